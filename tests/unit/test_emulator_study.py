"""The emulator's study: grid, random and Optuna proposals, the median rule, metric files."""

from __future__ import annotations

import json
import statistics

import pytest

from caliban_jupyter.emulator.study import Study, read_metrics
from caliban_jupyter.spec.search_space import load_search_space


def spec(algorithm="random", goal="minimize", **params):
    return load_search_space({
        "metric": "loss", "goal": goal, "trials": 50, "algorithm": algorithm,
        "parameters": params or {"lr": {"min": 1e-4, "max": 1.0, "scale": "log"},
                                 "layers": {"min": 1, "max": 4, "type": "int"},
                                 "opt": ["adam", "sgd"]}}).study_spec()


def test_grid_walks_every_combination_once_then_stops():
    study = Study(spec("grid", layers={"min": 1, "max": 3, "type": "int"}, opt=["a", "b"]))
    seen = []
    while (params := study.suggest(str(len(seen)))) is not None:
        seen.append((params["layers"], params["opt"]))
    assert seen == [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b")]
    assert study.algorithm_name == "grid search"


def test_random_draws_stay_in_bounds_on_the_log_scale_and_replay_with_the_seed():
    draws = [Study(spec(), seed=7).suggest("1") for _ in range(2)]
    assert draws[0] == draws[1]
    study = Study(spec(), seed=3)
    lrs = [study.suggest(str(i))["lr"] for i in range(400)]
    assert all(1e-4 <= x <= 1.0 for x in lrs)
    # Log-uniform: about half the draws fall below the geometric midpoint 1e-2 (a linear
    # draw would put about 1% there).
    below = sum(x < 1e-2 for x in lrs) / len(lrs)
    assert 0.4 < below < 0.6


def test_reverse_log_spreads_values_near_the_top():
    study = Study(spec(x={"min": 1.0, "max": 1000.0, "scale": "reverse_log"}), seed=1)
    xs = [study.suggest(str(i))["x"] for i in range(400)]
    assert sum(x > 999.0 - 10 for x in xs) / len(xs) > 0.3


def test_default_algorithm_uses_optuna_and_learns():
    pytest.importorskip("optuna")
    study = Study(spec("default", x={"min": -5.0, "max": 5.0}), seed=0)
    assert study.algorithm_name.startswith("Optuna ")
    values = []
    for i in range(40):
        x = study.suggest(str(i))["x"]
        study.complete(str(i), (x - 2.0) ** 2)
        values.append(x)
    # TPE concentrates near the optimum after its random start-up trials.
    late = values[-10:]
    assert statistics.median(late) == pytest.approx(2.0, abs=1.0)


def test_median_rule_stops_a_trial_worse_than_the_median_running_average():
    study = Study(spec(goal="maximize"))
    for t, curve in {"a": [0.5, 0.7, 0.9], "b": [0.4, 0.6, 0.8], "c": [0.1, 0.2, 0.3]}.items():
        for v in curve:
            study.measure(t, v)
        study.complete(t, curve[-1])
    study.measure("slow", 0.2)
    study.measure("slow", 0.3)
    # Running averages over 2 steps: a 0.6, b 0.5, c 0.15 -> median 0.5; best 0.3 < 0.5.
    assert study.should_stop("slow")
    study.measure("good", 0.55)
    assert not study.should_stop("good")  # 0.55 >= median of (0.5, 0.4, 0.1) = 0.4
    assert not Study(spec()).should_stop("nobody")


def test_median_rule_for_minimize():
    study = Study(spec(goal="minimize"))
    for t, v in {"a": 1.0, "b": 2.0, "c": 3.0}.items():
        study.measure(t, v)
        study.complete(t, v)
    study.measure("x", 2.5)
    assert study.should_stop("x")
    study.measure("y", 1.5)
    assert not study.should_stop("y")


def test_read_metrics_takes_hypertune_lines_and_skips_partial_ones():
    lines = [json.dumps({"global_step": "1", "loss": "0.5", "timestamp": 1.0, "trial": "1"}),
             '{"global_step": "2", "lo',  # being written
             json.dumps({"global_step": "3", "other": "1"}),
             json.dumps({"global_step": "4", "loss": "0.25", "timestamp": 2.0, "trial": "1"}),
             json.dumps({"loss": "nan"})]
    assert read_metrics("\n".join(lines), "loss") == [0.5, 0.25]


@pytest.mark.parametrize("algorithm", ["grid", "random", "default"])
def test_replay_after_a_restart_continues_the_sequence(algorithm):
    params = ({"layers": {"min": 1, "max": 3, "type": "int"}, "opt": ["a", "b"]}
              if algorithm == "grid" else {})
    first = Study(spec(algorithm, **params), seed=5)
    proposed = [first.suggest(str(i)) for i in range(1, 4)]
    for i in (1, 2):
        first.complete(str(i), float(i))
    # A new emulator rebuilds the study from the stored trials.
    again = Study(spec(algorithm, **params), seed=5)
    for i, values in enumerate(proposed[:2], 1):
        again.replay(str(i), values)
        again.complete(str(i), float(i))
    if algorithm == "grid":
        assert again.suggest("3") == proposed[2] == {"layers": 2, "opt": "a"}
    elif algorithm == "random":
        assert again.suggest("3") == proposed[2]
    else:
        optuna_study = again._optuna[1]
        told = [(t.params, t.value) for t in optuna_study.trials]
        assert told == [(proposed[0], 1.0), (proposed[1], 2.0)]
        assert again.suggest("3") is not None


def test_read_measurements_keeps_the_steps():
    from caliban_jupyter.emulator.study import read_measurements

    text = "\n".join(json.dumps(line) for line in (
        {"global_step": "10", "loss": "0.5"}, {"loss": "0.25"}, {"global_step": "x", "a": 1}))
    assert read_measurements(text, "loss") == [(10, 0.5), (None, 0.25)]

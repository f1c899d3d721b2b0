"""--tune SPACE: validation messages and the StudySpec it becomes (spec/search_space.py)."""

from __future__ import annotations

import json

import pytest

from caliban_jupyter.errors import SearchSpaceError
from caliban_jupyter.spec.search_space import load_search_space, trial_args

ISSUE_EXAMPLE = {
    "metric": "accuracy", "goal": "maximize", "trials": 20, "parallel": 4,
    "algorithm": "default", "max_failed": 3, "early_stopping": "median",
    "parameters": {"learning_rate": {"min": 1e-4, "max": 0.1, "scale": "log"},
                   "layers": {"min": 1, "max": 8, "type": "int"},
                   "dropout": {"values": [0.0, 0.1, 0.3]},
                   "optimizer": ["adam", "sgd"]},
}


def space(**over):
    base = {"metric": "loss", "goal": "minimize", "trials": 6,
            "parameters": {"lr": {"min": 0.001, "max": 0.1}}}
    base.update(over)
    return base


def test_the_issue_example_becomes_vertex_fields():
    fields = load_search_space(ISSUE_EXAMPLE).job_fields()
    assert fields == {
        "studySpec": {
            "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
            "parameters": [
                {"parameterId": "learning_rate", "scaleType": "UNIT_LOG_SCALE",
                 "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.1}},
                {"parameterId": "layers", "scaleType": "UNIT_LINEAR_SCALE",
                 "integerValueSpec": {"minValue": "1", "maxValue": "8"}},
                {"parameterId": "dropout", "scaleType": "UNIT_LINEAR_SCALE",
                 "discreteValueSpec": {"values": [0.0, 0.1, 0.3]}},
                {"parameterId": "optimizer", "categoricalValueSpec": {"values": ["adam", "sgd"]}},
            ],
            "algorithm": "ALGORITHM_UNSPECIFIED",
            "medianAutomatedStoppingSpec": {},
        },
        "maxTrialCount": 20, "parallelTrialCount": 4, "maxFailedTrialCount": 3,
    }


def test_defaults_and_a_file_with_comments(tmp_path):
    path = tmp_path / "space.json"
    path.write_text("// the search\n" + json.dumps(space(algorithm="random")))
    s = load_search_space(str(path))
    assert (s.parallel, s.max_failed, s.early_stopping, s.algorithm) == (1, 0, None, "random")
    assert s.study_spec()["algorithm"] == "RANDOM_SEARCH"
    assert "medianAutomatedStoppingSpec" not in s.study_spec()


def test_a_step_makes_a_grid_of_discrete_values():
    s = load_search_space(space(algorithm="grid", parameters={
        "lr": {"min": 0.1, "max": 0.5, "step": 0.1},
        "layers": {"min": 2, "max": 8, "step": 2, "type": "int"}}))
    lr, layers = s.parameters
    assert lr.values == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert layers.values == (2, 4, 6, 8)
    assert s.study_spec()["algorithm"] == "GRID_SEARCH"


def test_trial_args_are_vertex_style():
    assert trial_args({"lr": 0.01, "layers": 3, "opt": "adam", "bn": True}) == [
        "--lr=0.01", "--layers=3", "--opt=adam", "--bn=true"]


def lr(**spec):
    return space(parameters={"lr": spec})


@pytest.mark.parametrize("bad, words", [
    (space(parameters={"lr": {"min": 0.1, "max": 0.1}}), "min (0.1) must be less than max"),
    (lr(min=0, max=1, scale="log"), "log scale needs every value > 0"),
    (lr(min=1, max=2, scale="cubic"), "unknown parameter 'lr' scale 'cubic'"),
    (lr(min=1, max=2, type="float32"), "unknown parameter 'lr' type"),
    (space(algorithm="bayes"), "unknown algorithm 'bayes': use one of default, grid, random"),
    (space(algorithm="grid"), "grid search cannot cover the continuous range(s) lr"),
    (space(trials=0), '"trials" must be a whole number >= 1'),
    (space(trials=2, parallel=3), '"parallel" (3) is more than "trials" (2)'),
    (space(goal=None), 'needs "goal"'),
    (space(metric="my loss"), 'needs "metric"'),
    (space(early_stopping="hyperband"), 'unknown "early_stopping"'),
    (space(parameters={}), 'needs "parameters"'),
    (space(parameters={"lr": {"values": []}}), "values must be a non-empty list"),
    (space(parameters={"lr": ["a", "a"]}), "values repeat"),
    (space(parameters={"lr": {"min": 1, "max": 2, "typo": 1}}), "unknown key(s) 'typo'"),
    (space(parameters={"lr": {"min": 1.5, "max": 3, "type": "int"}}), "needs whole min and max"),
    (space(budget=3), "unknown key(s) 'budget'"),
])
def test_bad_spaces_get_one_clear_message(bad, words):
    with pytest.raises(SearchSpaceError) as e:
        load_search_space(bad)
    assert words in str(e.value)


def test_a_missing_file_says_search_space(tmp_path):
    with pytest.raises(SearchSpaceError, match="search space .* does not exist"):
        load_search_space(str(tmp_path / "nope.json"))

"""The emulator's study: which parameters the next trial gets, and when to stop one early.

A ``HyperparameterTuningJob``'s ``studySpec`` (REST JSON, as the SDK sends it) drives it:

- ``GRID_SEARCH``: every combination of the parameters' values, in order (Vertex: "To use
  grid search, all parameters must be INTEGER, CATEGORICAL, or DISCRETE",
  ``StudySpec.Algorithm``); when the grid is exhausted, no more trials are proposed.
- ``RANDOM_SEARCH``: independent uniform draws, on the parameter's scale (log scales draw
  the logarithm uniformly; reverse log mirrors a log draw so values near the top spread
  out, as ``ScaleType.UNIT_REVERSE_LOG_SCALE`` describes).
- ``ALGORITHM_UNSPECIFIED`` (Vizier on Vertex): Optuna's TPE sampler when the optional
  extra ``optuna`` is installed, else random search; :attr:`Study.algorithm_name` says
  which ran, for the job's log.
- Median stopping (``medianAutomatedStoppingSpec``), as Vertex's reference words it: "stops
  a pending Trial if the Trial's best objective_value is strictly below the median
  'performance' of all completed Trials reported up to the Trial's last measurement.
  Currently, 'performance' refers to the running average of the objective values reported
  by the Trial in each measurement." (below = worse, for the metric's goal).

Pure apart from the optional optuna import; seeded, so a study replays the same proposals.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class _Param:
    name: str
    kind: str  # double | integer | discrete | categorical
    low: float = 0.0
    high: float = 0.0
    values: tuple[Any, ...] = ()
    scale: str = "UNIT_LINEAR_SCALE"

    def grid(self) -> tuple[Any, ...]:
        if self.kind == "integer":
            return tuple(range(int(self.low), int(self.high) + 1))
        return self.values

    def draw(self, rng: random.Random) -> Any:
        if self.kind in ("discrete", "categorical"):
            return rng.choice(self.values)
        x = _scaled_draw(rng, self.low, self.high, self.scale)
        return min(int(self.high), max(int(self.low), round(x))) if self.kind == "integer" else x


def _scaled_draw(rng: random.Random, low: float, high: float, scale: str) -> float:
    if scale == "UNIT_LOG_SCALE":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scale == "UNIT_REVERSE_LOG_SCALE":
        return low + high - math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def parse_parameters(study_spec: Mapping[str, Any]) -> tuple[_Param, ...]:
    """The ``studySpec.parameters`` of a request, as the study draws them."""
    out = []
    for p in study_spec.get("parameters", []):
        name, scale = p["parameterId"], p.get("scaleType", "UNIT_LINEAR_SCALE")
        if "doubleValueSpec" in p:
            s = p["doubleValueSpec"]
            # proto3 leaves a 0 bound out of the JSON: absent means 0.
            out.append(_Param(name, "double", float(s.get("minValue", 0)),
                              float(s.get("maxValue", 0)), scale=scale))
        elif "integerValueSpec" in p:
            s = p["integerValueSpec"]  # int64: strings on the wire
            out.append(_Param(name, "integer", int(s.get("minValue", 0)),
                              int(s.get("maxValue", 0)), scale=scale))
        elif "discreteValueSpec" in p:
            out.append(_Param(name, "discrete", values=tuple(
                float(v) for v in p["discreteValueSpec"]["values"]), scale=scale))
        else:
            out.append(_Param(name, "categorical",
                              values=tuple(p["categoricalValueSpec"]["values"])))
    return tuple(out)


@dataclass
class Study:
    """Proposes trials' parameters and decides early stopping for one tuning job."""

    study_spec: Mapping[str, Any]
    seed: int = 0
    params: tuple[_Param, ...] = field(init=False)
    algorithm_name: str = field(init=False)
    _grid: Iterator[tuple[Any, ...]] | None = field(init=False, default=None)
    _rng: random.Random = field(init=False)
    _optuna: Any = field(init=False, default=None)
    _asked: dict[str, Any] = field(init=False, default_factory=dict)
    _curves: dict[str, list[float]] = field(init=False, default_factory=dict)
    _done: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.params = parse_parameters(self.study_spec)
        self._rng = random.Random(self.seed)
        algorithm = self.study_spec.get("algorithm", "ALGORITHM_UNSPECIFIED")
        if algorithm == "GRID_SEARCH":
            self._grid = itertools.product(*(p.grid() for p in self.params))
            self.algorithm_name = "grid search"
        elif algorithm == "RANDOM_SEARCH":
            self.algorithm_name = "random search"
        else:
            self._optuna = _optuna_study(self.seed, self.maximize)
            self.algorithm_name = (
                f"Optuna {self._optuna[0].__version__} TPE (in place of Vertex's Vizier)"
                if self._optuna else
                "random search (Vertex's default is Vizier; install the optional extra "
                "caliban-jupyter[tuning] for Optuna's TPE sampler)")

    @property
    def maximize(self) -> bool:
        metrics = self.study_spec.get("metrics") or [{}]
        return metrics[0].get("goal") == "MAXIMIZE"

    @property
    def metric(self) -> str:
        return (self.study_spec.get("metrics") or [{}])[0].get("metricId", "")

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The parameters of trial ``trial_id``; None when the grid is exhausted."""
        if self._grid is not None:
            combo = next(self._grid, None)
            if combo is None:
                return None
            return dict(zip([p.name for p in self.params], combo, strict=True))
        if self._optuna is not None:
            return self._ask_optuna(trial_id)
        return {p.name: p.draw(self._rng) for p in self.params}

    def replay(self, trial_id: str, parameters: Mapping[str, Any]) -> None:
        """Advance the study past trial ``trial_id``, proposed with ``parameters`` by an
        earlier emulator (after a restart): grid and random search resume their sequences;
        Optuna is given the trial's parameters (``enqueue_trial``) so its history holds
        them when the trial's result is told."""
        if self._grid is not None:
            next(self._grid, None)
        elif self._optuna is None:
            self.suggest(trial_id)
        else:
            fixed = {}
            for p in self.params:
                value = parameters.get(p.name)
                if p.scale == "UNIT_REVERSE_LOG_SCALE" and p.kind in ("double", "integer") \
                        and value is not None:
                    fixed[p.name + "__mirror"] = p.low + p.high - float(value)
                else:
                    fixed[p.name] = value
            self._optuna[1].enqueue_trial(fixed)
            self._ask_optuna(trial_id)

    def measure(self, trial_id: str, value: float) -> None:
        """An intermediate measurement of a running trial (one line of its metrics file)."""
        self._curves.setdefault(trial_id, []).append(float(value))

    def complete(self, trial_id: str, value: float | None) -> None:
        """Trial ``trial_id`` ended with final metric ``value`` (None: it failed)."""
        if value is not None:
            curve = self._curves.setdefault(trial_id, [])
            if not curve or curve[-1] != value:
                curve.append(float(value))
            self._done.add(trial_id)
        if self._optuna is not None and trial_id in self._asked:
            optuna, study = self._optuna
            state = optuna.trial.TrialState.COMPLETE if value is not None else \
                optuna.trial.TrialState.FAIL
            study.tell(self._asked.pop(trial_id), value if value is not None else None,
                       state=state)

    def should_stop(self, trial_id: str) -> bool:
        """Median rule: the trial's best so far is worse than the median of the completed
        trials' running averages up to as many measurements as this trial has."""
        curve = self._curves.get(trial_id) or []
        if not curve:
            return False
        steps = len(curve)
        peers = [_running_average(self._curves[t], steps) for t in self._done if t != trial_id]
        if not peers:
            return False
        median = statistics.median(peers)
        best = max(curve) if self.maximize else min(curve)
        return best < median if self.maximize else best > median

    def _ask_optuna(self, trial_id: str) -> dict[str, Any]:
        _, study = self._optuna
        trial = study.ask()
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind in ("discrete", "categorical"):
                out[p.name] = trial.suggest_categorical(p.name, list(p.values))
            elif p.scale == "UNIT_REVERSE_LOG_SCALE":  # Optuna has no reverse log: mirror it
                y = trial.suggest_float(p.name + "__mirror", p.low, p.high, log=True)
                x = p.low + p.high - y
                out[p.name] = round(x) if p.kind == "integer" else x
            elif p.kind == "integer":
                out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high),
                                                log=p.scale == "UNIT_LOG_SCALE")
            else:
                out[p.name] = trial.suggest_float(p.name, p.low, p.high,
                                                  log=p.scale == "UNIT_LOG_SCALE")
        self._asked[trial_id] = trial
        return out


def _running_average(curve: Sequence[float], steps: int) -> float:
    head = curve[:steps]
    return sum(head) / len(head)


def _optuna_study(seed: int, maximize: bool) -> tuple[Any, Any] | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    return optuna, study


def read_metrics(text: str, metric: str) -> list[float]:
    """The values of ``metric`` in a ``cloudml-hypertune`` metrics file, in order (see
    :func:`read_measurements`)."""
    return [value for _, value in read_measurements(text, metric)]


def read_measurements(text: str, metric: str) -> list[tuple[int | None, float]]:
    """``(global_step, value)`` of ``metric`` in a ``cloudml-hypertune`` metrics file.

    The file is what ``hypertune.HyperTune.report_hyperparameter_tuning_metric`` writes (at
    ``$CLOUD_ML_HP_METRIC_FILE``, default ``/tmp/hypertune/output.metrics``): one JSON object
    per line, ``{"global_step": "1000", "<tag>": "0.987", "timestamp": ..., "trial": "0"}``
    with the value as a string (GoogleCloudPlatform/cloudml-hypertune, hypertune.py). Lines
    that are not JSON, or lack the metric, are skipped (a trial may write while we read).
    """
    import json

    out: list[tuple[int | None, float]] = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            value = float(entry[metric])
        except (ValueError, KeyError, TypeError):
            continue
        try:
            step: int | None = int(entry.get("global_step"))
        except (ValueError, TypeError):
            step = None
        if math.isfinite(value):
            out.append((step, value))
    return out

"""A hyperparameter search (``--tune SPACE``) as Vertex AI's ``StudySpec`` (pure).

A search space is written as JSON (``//`` comments allowed) or, in a notebook, as a dict::

    {"metric": "accuracy", "goal": "maximize", "trials": 20, "parallel": 4,
     "algorithm": "default", "max_failed": 3, "early_stopping": "median",
     "parameters": {"learning_rate": {"min": 1e-4, "max": 0.1, "scale": "log"},
                    "layers": {"min": 1, "max": 8, "type": "int"},
                    "dropout": {"values": [0.0, 0.1, 0.3]},
                    "optimizer": ["adam", "sgd"]}}

A list is categorical, ``{"values": [numbers]}`` discrete, ``{"min", "max"}`` a double range
(``"type": "int"`` an integer one); a range with ``"step"`` is the discrete set
``min, min+step, ..., max`` (so a grid can cover it). ``scale`` is ``linear`` (default),
``log`` or ``reverse_log``.

Vertex's side, from its v1 REST reference (``projects.locations.hyperparameterTuningJobs``
and ``StudySpec``; https://cloud.google.com/vertex-ai/docs/reference/rest/v1/StudySpec):

- ``studySpec.metrics[{metricId, goal: MAXIMIZE|MINIMIZE}]``; ``studySpec.parameters[]`` with
  exactly one of ``doubleValueSpec``/``integerValueSpec`` (``minValue``, ``maxValue``; int64
  as JSON strings), ``discreteValueSpec`` (``values``: doubles), ``categoricalValueSpec``
  (``values``: strings), and ``scaleType`` ``UNIT_LINEAR_SCALE``/``UNIT_LOG_SCALE``/
  ``UNIT_REVERSE_LOG_SCALE`` (log scales: "The entire feasible space must be strictly
  positive", ``StudySpec.ParameterSpec.ScaleType``).
- ``algorithm``: ``ALGORITHM_UNSPECIFIED`` ("The default algorithm used by Vertex AI for
  hyperparameter tuning and Vertex AI Vizier"), ``GRID_SEARCH`` ("To use grid search, all
  parameters must be INTEGER, CATEGORICAL, or DISCRETE"), ``RANDOM_SEARCH``
  (``StudySpec.Algorithm``).
- ``medianAutomatedStoppingSpec`` (median stopping rule); ``maxTrialCount``,
  ``parallelTrialCount``, ``maxFailedTrialCount`` on the job.
- Trials receive their parameters as command-line arguments ``--name=value``
  (https://cloud.google.com/vertex-ai/docs/training/using-hyperparameter-tuning, "How
  hyperparameter tuning works": Vertex AI passes the values as arguments to the trial).

Ours (no Vertex source: this file's own rules): ``metric`` and ``goal`` are required (a
default goal would silently maximise a loss); ``parallel`` defaults to 1 and may not exceed
``trials``; ``max_failed`` defaults to 0, which Vertex reads as "the service decides".
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SearchSpaceError
from .commented_json import parse_commented_json, read_config_file

#: Our names -> Vertex's enums.
SCALES = {"linear": "UNIT_LINEAR_SCALE", "log": "UNIT_LOG_SCALE",
          "reverse_log": "UNIT_REVERSE_LOG_SCALE"}
ALGORITHMS = {"default": "ALGORITHM_UNSPECIFIED", "grid": "GRID_SEARCH",
              "random": "RANDOM_SEARCH"}
GOALS = {"maximize": "MAXIMIZE", "minimize": "MINIMIZE"}
EARLY_STOPPING = ("median",)
TYPES = ("double", "int")
_TOP_KEYS = ("metric", "goal", "trials", "parallel", "algorithm", "max_failed",
             "early_stopping", "parameters")
_RANGE_KEYS = ("min", "max", "scale", "type", "step")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Most points a ``step`` may make of a range (a larger grid is a typo, not a plan).
MAX_STEPS = 10_000

Number = int | float


@dataclass(frozen=True)
class Parameter:
    """One searched parameter.

    ``kind`` is ``double`` or ``integer`` (a ``low``..``high`` range), ``discrete``
    (``values`` of numbers) or ``categorical`` (``values`` of strings, bools or numbers,
    passed to the trial as their text).
    """

    name: str
    kind: str
    low: Number | None = None
    high: Number | None = None
    values: tuple[Any, ...] = ()
    scale: str = "linear"

    def spec(self) -> dict[str, Any]:
        """This parameter as a ``StudySpec.ParameterSpec`` (REST JSON)."""
        out: dict[str, Any] = {"parameterId": self.name}
        if self.kind == "double":
            out["doubleValueSpec"] = {"minValue": float(self.low), "maxValue": float(self.high)}
        elif self.kind == "integer":
            # int64 fields are JSON strings on the REST wire (proto3 JSON mapping).
            out["integerValueSpec"] = {"minValue": str(self.low), "maxValue": str(self.high)}
        elif self.kind == "discrete":
            out["discreteValueSpec"] = {"values": [float(v) for v in self.values]}
        else:
            out["categoricalValueSpec"] = {"values": [_text(v) for v in self.values]}
        if self.kind != "categorical":
            out["scaleType"] = SCALES[self.scale]
        return out


@dataclass(frozen=True)
class SearchSpace:
    """A validated search: the metric, its goal, the budget and the parameters."""

    metric: str
    goal: str
    trials: int
    parallel: int
    algorithm: str
    max_failed: int
    early_stopping: str | None
    parameters: tuple[Parameter, ...]

    def study_spec(self) -> dict[str, Any]:
        """The ``studySpec`` of a ``HyperparameterTuningJob`` (REST JSON)."""
        spec: dict[str, Any] = {
            "metrics": [{"metricId": self.metric, "goal": GOALS[self.goal]}],
            "parameters": [p.spec() for p in self.parameters],
            "algorithm": ALGORITHMS[self.algorithm],
        }
        if self.early_stopping == "median":
            spec["medianAutomatedStoppingSpec"] = {}
        return spec

    def job_fields(self) -> dict[str, Any]:
        """The tuning job's fields besides ``displayName``, ``trialJobSpec`` and labels."""
        return {"studySpec": self.study_spec(), "maxTrialCount": self.trials,
                "parallelTrialCount": self.parallel, "maxFailedTrialCount": self.max_failed}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)


def trial_args(values: Mapping[str, Any]) -> list[str]:
    """A trial's parameters as the arguments Vertex passes: ``--name=value`` each."""
    return [f"--{k}={_text(v)}" for k, v in values.items()]


def load_search_space(source: str | os.PathLike[str] | Mapping[str, Any]) -> SearchSpace:
    """Load and validate a search space from a dict or a JSON file's path.

    Raises
    ------
    SearchSpaceError
        The file is unreadable or not JSON, or the space is invalid; the message names the
        key at fault and what to write instead.
    """
    if isinstance(source, Mapping):
        return validate_search_space(source)
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            text = read_config_file(name, "search space")
            raw = parse_commented_json(text, name)
        except SearchSpaceError:
            raise
        except Exception as e:  # ExperimentConfigError from the shared JSON reader
            raise SearchSpaceError(str(e)) from None
        return validate_search_space(raw)
    raise SearchSpaceError(
        f"a search space is a dict or the path of a JSON file, not a {type(source).__name__}:"
        ' write e.g. {"metric": "loss", "goal": "minimize", "trials": 10, '
        '"parameters": {"lr": {"min": 1e-4, "max": 0.1, "scale": "log"}}}')


def validate_search_space(raw: Any) -> SearchSpace:
    """Check a parsed search space and return it as a :class:`SearchSpace`."""
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(
            f"a search space is a JSON object, not a {type(raw).__name__}: write "
            '{"metric": ..., "goal": ..., "trials": ..., "parameters": {...}}')
    unknown = sorted(set(raw) - set(_TOP_KEYS))
    if unknown:
        raise SearchSpaceError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in the search space: "
            f"the keys are {', '.join(_TOP_KEYS)}")
    metric = raw.get("metric")
    if not isinstance(metric, str) or not _NAME.match(metric):
        raise SearchSpaceError(
            'the search space needs "metric": the name of the variable (or reported metric) '
            f"to optimise, a Python identifier such as \"accuracy\" (got {metric!r})")
    goal = _choice(raw.get("goal"), GOALS, "goal", required=True)
    trials = _count(raw.get("trials"), "trials", required=True)
    parallel = _count(raw.get("parallel", 1), "parallel")
    if parallel > trials:
        raise SearchSpaceError(
            f'"parallel" ({parallel}) is more than "trials" ({trials}): at most {trials} '
            "trials can run at once; lower parallel or raise trials")
    max_failed = raw.get("max_failed", 0)
    if isinstance(max_failed, bool) or not isinstance(max_failed, int) or max_failed < 0:
        raise SearchSpaceError(
            f'"max_failed" is a whole number of trials >= 0 (0: Vertex decides), '
            f"not {max_failed!r}")
    algorithm = _choice(raw.get("algorithm", "default"), ALGORITHMS, "algorithm")
    stopping = raw.get("early_stopping")
    if stopping is not None and stopping not in EARLY_STOPPING:
        raise SearchSpaceError(
            f'unknown "early_stopping" {stopping!r}: write "median" or null')
    params = raw.get("parameters")
    if not isinstance(params, Mapping) or not params:
        raise SearchSpaceError(
            'the search space needs "parameters": an object of at least one parameter, e.g. '
            '{"lr": {"min": 1e-4, "max": 0.1, "scale": "log"}, "optimizer": ["adam", "sgd"]}')
    parameters = tuple(_parameter(name, spec) for name, spec in params.items())
    if algorithm == "grid":
        continuous = [p.name for p in parameters if p.kind == "double"]
        if continuous:
            raise SearchSpaceError(
                f"grid search cannot cover the continuous range(s) {', '.join(continuous)}: "
                'give each a "step" (e.g. {"min": 0.1, "max": 0.5, "step": 0.1}), list its '
                '"values", or use "algorithm": "random" or "default"')
    return SearchSpace(metric=metric, goal=goal, trials=trials, parallel=parallel,
                       algorithm=algorithm, max_failed=max_failed, early_stopping=stopping,
                       parameters=parameters)


def _parameter(name: Any, spec: Any) -> Parameter:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SearchSpaceError(
            f"parameter name {name!r} is not a valid flag/variable name: use letters, digits "
            "and _ , not starting with a digit")
    at = f"parameter {name!r}"
    if isinstance(spec, list):
        return Parameter(name, "categorical", values=_values(spec, at, categorical=True))
    if not isinstance(spec, Mapping):
        raise SearchSpaceError(
            f"{at}: write a list of choices, {{\"values\": [numbers]}} or "
            f"{{\"min\": ..., \"max\": ...}}, not {spec!r}")
    if "values" in spec:
        extra = sorted(set(spec) - {"values", "scale"})
        if extra:
            raise SearchSpaceError(
                f"{at}: {', '.join(map(repr, extra))} cannot go with \"values\" "
                '(only "scale" can)')
        values = _values(spec["values"], at, categorical=False)
        scale = _choice(spec.get("scale", "linear"), SCALES, f"{at} scale")
        _positive_if_log(scale, min(values), at)
        return Parameter(name, "discrete", values=values, scale=scale)
    unknown = sorted(set(spec) - set(_RANGE_KEYS))
    if unknown:
        raise SearchSpaceError(
            f"{at}: unknown key(s) {', '.join(map(repr, unknown))}; a range takes "
            f"{', '.join(_RANGE_KEYS)}, or write \"values\"")
    kind = _choice(spec.get("type", "double"), dict.fromkeys(TYPES), f"{at} type")
    low, high = (_number(spec.get(k), f"{at} {k}") for k in ("min", "max"))
    if low >= high:
        raise SearchSpaceError(
            f"{at}: min ({low}) must be less than max ({high}); a single value is not a search "
            "(fix it in the code, or widen the range)")
    scale = _choice(spec.get("scale", "linear"), SCALES, f"{at} scale")
    _positive_if_log(scale, low, at)
    if kind == "int":
        if not all(float(v).is_integer() for v in (low, high)):
            raise SearchSpaceError(f"{at}: an int range needs whole min and max, not {low}..{high}")
        low, high = int(low), int(high)
    if "step" in spec:
        return Parameter(name, "discrete", values=_steps(low, high, spec["step"], at, kind),
                         scale=scale)
    return Parameter(name, "integer" if kind == "int" else "double", low=low, high=high,
                     scale=scale)


def _steps(low: Number, high: Number, step: Any, at: str, kind: str) -> tuple[Number, ...]:
    step = _number(step, f"{at} step")
    if step <= 0 or (kind == "int" and not float(step).is_integer()):
        raise SearchSpaceError(f"{at}: step must be a positive {'whole ' if kind == 'int' else ''}"
                               f"number, not {step}")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > MAX_STEPS:
        raise SearchSpaceError(f"{at}: step {step} makes {count} values (at most {MAX_STEPS}): "
                               "use a larger step or a range without one")
    # Each point from low (no accumulated float error), rounded to the step's digits.
    digits = max(0, -math.floor(math.log10(step)) + 6) if kind != "int" else 0
    values = [round(low + i * step, digits) for i in range(count)]
    return tuple(int(v) for v in values) if kind == "int" else tuple(values)


def _values(values: Any, at: str, *, categorical: bool) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise SearchSpaceError(f"{at}: values must be a non-empty list")
    if categorical:
        bad = [v for v in values if not isinstance(v, (str, bool, int, float))]
        if bad:
            raise SearchSpaceError(f"{at}: a choice is a string, number or bool, not {bad[0]!r}")
        texts = [_text(v) for v in values]
    else:
        for v in values:
            _number(v, f"{at} value")
        texts = [repr(float(v)) for v in values]
    if len(set(texts)) != len(texts):
        raise SearchSpaceError(f"{at}: values repeat ({values}); list each once")
    return tuple(values if categorical else sorted(values))


def _number(v: Any, at: str) -> Number:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SearchSpaceError(f"{at} must be a finite number, not {v!r}")
    return v


def _count(v: Any, key: str, *, required: bool = False) -> int:
    if v is None and required:
        raise SearchSpaceError(f'the search space needs "{key}": how many trials (a whole '
                               "number >= 1)")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise SearchSpaceError(f'"{key}" must be a whole number >= 1, not {v!r}')
    return v


def _choice(v: Any, options: Mapping[str, Any] | Sequence[str], key: str, *,
            required: bool = False) -> str:
    names = list(options)
    if v is None and required:
        raise SearchSpaceError(f'the search space needs "{key}": one of {", ".join(names)}')
    if v not in names:
        raise SearchSpaceError(f"unknown {key} {v!r}: use one of {', '.join(names)}")
    return v


def _positive_if_log(scale: str, low: Number, at: str) -> None:
    if scale != "linear" and low <= 0:
        raise SearchSpaceError(
            f"{at}: a {scale} scale needs every value > 0 (min is {low}): raise min, or use "
            '"scale": "linear"')


def _text(v: Any) -> str:
    # How a value reaches the trial's command line: JSON-ish for bools, Python's repr for
    # floats (round-trips), str otherwise.
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)

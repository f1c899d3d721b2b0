"""The checks of a HyperparameterTuningJob create request. Pure.

Field paths are relative to the HyperparameterTuningJob, in Vertex's snake_case form
(``study_spec.parameters[0].double_value_spec.min_value``), like the CustomJob checks of
:mod:`.validation`. The trial job spec is checked by those same CustomJob checks (machine and
accelerator checks from the catalog included), its paths under ``trial_job_spec``.

What is required comes from the REST reference
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.hyperparameterTuningJobs:
displayName, studySpec, maxTrialCount, parallelTrialCount, trialJobSpec are "Required";
StudySpec: metrics and parameters "Required"; MetricSpec: metricId and goal "Required";
ParameterSpec: parameterId "Required", one of the value specs; DoubleValueSpec and
IntegerValueSpec: minValue and maxValue "Required", but proto3 fields without presence, so a
0 is left out of the JSON and an absent bound means 0; StudySpec.Algorithm GRID_SEARCH: "To use
grid search, all parameters must be INTEGER, CATEGORICAL, or DISCRETE"; ScaleType
UNIT_LOG_SCALE/UNIT_REVERSE_LOG_SCALE: "the entire feasible space must be strictly
positive"). The wording of each message is ours: no public source quotes Vertex's. Also
ours: ``parallelTrialCount`` may not exceed ``maxTrialCount`` and ``min_value`` may not
exceed ``max_value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from .rpc import ALGORITHMS, GOALS, SCALE_TYPES
from .validation import REQUIRED, custom_job_problems, label_problems

VALUE_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec",
               "categoricalValueSpec")
_SNAKE = {"doubleValueSpec": "double_value_spec", "integerValueSpec": "integer_value_spec",
          "discreteValueSpec": "discrete_value_spec",
          "categoricalValueSpec": "categorical_value_spec"}
MAX_DISPLAY_NAME = 128


def _number(value: Any) -> float | None:
    # int64 fields arrive as JSON strings ("3"); doubles as numbers.
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _count(value: Any) -> int | None:
    n = _number(value)
    return int(n) if n is not None and n == int(n) else None


def _parameter_problems(i: int, p: Any, grid: bool) -> Iterator[tuple[str, str]]:
    base = f"study_spec.parameters[{i}]"
    if not isinstance(p, Mapping):
        yield base, "A parameter spec must be an object."
        return
    if not p.get("parameterId"):
        yield f"{base}.parameter_id", REQUIRED
    given = [k for k in VALUE_SPECS if k in p]
    if len(given) != 1:
        yield base, ("Set exactly one of double_value_spec, integer_value_spec, "
                     "discrete_value_spec, categorical_value_spec.")
        return
    kind = given[0]
    spec = p[kind]
    at = f"{base}.{_SNAKE[kind]}"
    scale = p.get("scaleType", "SCALE_TYPE_UNSPECIFIED")
    if scale not in SCALE_TYPES:
        yield f"{base}.scale_type", f"Unknown scale type {scale!r}."
    if grid and kind == "doubleValueSpec":
        yield f"{base}.double_value_spec", (
            "To use grid search, all parameters must be INTEGER, CATEGORICAL, or DISCRETE.")
    if not isinstance(spec, Mapping):
        yield at, "Must be an object."
        return
    low: float | None = None
    if kind in ("doubleValueSpec", "integerValueSpec"):
        # proto3 leaves a 0 out of the JSON the SDK sends: an absent bound is 0.
        low, high = _number(spec.get("minValue", 0)), _number(spec.get("maxValue", 0))
        if low is None:
            yield f"{at}.min_value", "Must be a number."
        if high is None:
            yield f"{at}.max_value", "Must be a number."
        if low is not None and high is not None and low > high:
            yield f"{at}.min_value", f"min_value ({low:g}) is greater than max_value ({high:g})."
    else:
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            yield f"{at}.values", "At least one value is required."
        elif kind == "discreteValueSpec":
            numbers = [_number(v) for v in values]
            if any(n is None for n in numbers):
                yield f"{at}.values", "Discrete values must be numbers."
            else:
                low = min(n for n in numbers if n is not None)
        elif not all(isinstance(v, str) for v in values):
            yield f"{at}.values", "Categorical values must be strings."
    if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
        if kind == "categoricalValueSpec":
            yield f"{base}.scale_type", "A categorical parameter takes no scale type."
        elif low is not None and low <= 0:
            yield f"{base}.scale_type", (
                f"{scale} needs a strictly positive feasible space; the lowest value is "
                f"{low:g}.")


def study_problems(study: Any) -> Iterator[tuple[str, str]]:
    """Violations in ``studySpec``."""
    if not isinstance(study, Mapping):
        yield "study_spec", REQUIRED
        return
    metrics = study.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        yield "study_spec.metrics", "At least one metric spec is required."
    else:
        for i, m in enumerate(metrics):
            if not isinstance(m, Mapping) or not m.get("metricId"):
                yield f"study_spec.metrics[{i}].metric_id", REQUIRED
            elif m.get("goal") not in GOALS or m.get("goal") == "GOAL_TYPE_UNSPECIFIED":
                yield f"study_spec.metrics[{i}].goal", "Set the goal to MAXIMIZE or MINIMIZE."
    algorithm = study.get("algorithm", "ALGORITHM_UNSPECIFIED")
    if algorithm not in ALGORITHMS:
        yield "study_spec.algorithm", f"Unknown algorithm {algorithm!r}."
    params = study.get("parameters")
    if not isinstance(params, list) or not params:
        yield "study_spec.parameters", "At least one parameter spec is required."
        return
    seen: set[str] = set()
    for i, p in enumerate(params):
        yield from _parameter_problems(i, p, algorithm == "GRID_SEARCH")
        name = p.get("parameterId") if isinstance(p, Mapping) else None
        if name in seen:
            yield f"study_spec.parameters[{i}].parameter_id", (
                f"Parameter id {name!r} is used twice.")
        if isinstance(name, str):
            seen.add(name)


def tuning_job_problems(job: Any) -> list[tuple[str, str]]:
    """Every violation in a HyperparameterTuningJob create body (lowerCamelCase JSON)."""
    if not isinstance(job, Mapping):
        return [("hyperparameter_tuning_job", "The request body must be a "
                 "HyperparameterTuningJob JSON object.")]
    problems: list[tuple[str, str]] = []
    name = job.get("displayName")
    if not isinstance(name, str) or not name.strip():
        problems.append(("display_name", REQUIRED))
    elif len(name) > MAX_DISPLAY_NAME:
        problems.append(("display_name",
                         f"Display name is longer than {MAX_DISPLAY_NAME} characters."))
    problems.extend(label_problems(job.get("labels")))
    problems.extend(study_problems(job.get("studySpec")))
    counts = {}
    for key, field, least in (("maxTrialCount", "max_trial_count", 1),
                              ("parallelTrialCount", "parallel_trial_count", 1),
                              ("maxFailedTrialCount", "max_failed_trial_count", 0)):
        raw = job.get(key, 0)
        n = _count(raw)
        if n is None or n < least:
            problems.append((field, REQUIRED if least and raw in (0, None) else
                             f"Must be an integer of at least {least}."))
        counts[key] = n
    most, parallel = counts["maxTrialCount"], counts["parallelTrialCount"]
    if most and parallel and parallel > most:
        problems.append(("parallel_trial_count", f"parallel_trial_count ({parallel}) may "
                         f"not exceed max_trial_count ({most})."))
    spec = job.get("trialJobSpec")
    if not isinstance(spec, Mapping):
        problems.append(("trial_job_spec", REQUIRED))
    else:
        for field, message in custom_job_problems({"displayName": "trial", "jobSpec": spec}):
            problems.append((field.replace("job_spec", "trial_job_spec", 1), message))
    return problems

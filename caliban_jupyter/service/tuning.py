"""A hyperparameter search (``--tune SPACE``): one Vertex AI HyperparameterTuningJob whose
trials are the group's rows.

The plan checks the search before anything is built (:func:`check_tuning`), the request is
the sweep's single job turned into a tuning job (:func:`tuning_job_body`: its CustomJob's
``jobSpec`` becomes ``trialJobSpec``), and the submitter creates it exactly once
(:func:`submit_tuning`). The tuning job is recorded in the history like one job (index 1,
the group's labels), with the trials Vertex last returned (``JobRecord.trials``);
:func:`trial_rows` makes them rows (parameters, state, metric, best marked).

Vertex's side (v1 REST reference, ``projects.locations.hyperparameterTuningJobs``,
https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.hyperparameterTuningJobs):
``displayName``, ``labels``, ``studySpec``, ``maxTrialCount``, ``parallelTrialCount``,
``maxFailedTrialCount``, ``trialJobSpec`` (a CustomJobSpec) on create; ``trials[]`` with
``id``, ``state``, ``parameters[{parameterId, value}]``, ``finalMeasurement.metrics[]``,
``startTime``, ``endTime``, ``infeasibleReason`` on get. Trials get their parameters as
``--name=value`` arguments after the trial job's own.

Ours: ``--tune`` with ``--experiment_config`` is refused (one search, no grid on top).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SearchSpaceError, UsageError
from ..events import JobSubmitted, Progress, ignore
from ..records import (
    best_row,
    record_from_tuning_job,
    refresh_tuning,
    search_of,
    trial_output_uri,
    trial_rows,
)

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..history import History
    from ..records import JobRecord
    from ..spec.jobs import JobSpec
    from ..spec.search_space import SearchSpace
    from ..spec.target import Target

__all__ = ["best_row", "check_tuning", "load_tune", "record_from_tuning_job", "refresh_tuning",
           "search_of", "submit_tuning", "trial_output_uri", "trial_rows", "tuning_job_body",
           "tuning_results"]

COMBINED = ("--tune and --experiment_config (given, or kept in .calibanconfig.json) cannot "
            "go together: a search runs one tuning job whose trials Vertex proposes, not a "
            "grid of jobs. Move the fixed values "
            "into the program (or pass them after `--` as script arguments), and the "
            "varying ones into the search space's \"parameters\"")

_NO_TUNING = ("the {name} backend cannot run hyperparameter tuning jobs (--tune): use "
              "--backend vertex or --backend local")


def load_tune(source: Any, cwd: str) -> SearchSpace:
    """The search space ``source`` gives (a dict, or a JSON file's path relative to
    ``cwd``); raises :class:`SearchSpaceError` naming what to fix."""
    from ..spec.search_space import load_search_space

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_absolute():
            path = Path(cwd, path)
        if not path.is_file():
            raise SearchSpaceError(
                f"--tune {os.fspath(source)}: no such file; give the path of a JSON search "
                "space (in a notebook, also the name of a dict variable)")
        return load_search_space(path)
    return load_search_space(source)


def check_tuning(space: SearchSpace, *, experiment_config: Any, program: str | None,
                 target: Target | None, parameters: Sequence[str] = (),
                 service: Any = None) -> None:
    """Refuse a search that cannot run as asked (before anything is built): with an
    experiment config, on a job service without tuning jobs (``service``, its backend
    class), or whose metric the cell never assigns."""
    if experiment_config is not None:
        raise UsageError(COMBINED)
    if service is not None and not hasattr(service, "create_tuning"):
        raise UsageError(_NO_TUNING.format(name=service.name))
    if program is None:
        return
    from ..packaging.outputs_check import assigned_names

    assigned = assigned_names(program)
    if assigned is None:
        return
    searched = set(parameters) | set(space.names)
    if space.metric not in assigned - searched:
        from ..capture.program import assigned_names as top_level

        own = [n for n in top_level(program) if n not in searched and not n.startswith("_")]
        said = ", ".join(own) if own else "no variables"
        raise SearchSpaceError(
            f"the search's metric {space.metric!r} is never assigned by the cell (it assigns "
            f"{said}): assign it, e.g. {space.metric} = evaluate(model), or set \"metric\" to "
            "one of those")


def tuning_job_body(space: SearchSpace, custom_job: Mapping[str, Any]) -> dict[str, Any]:
    """The HyperparameterTuningJob REST body: the sweep's single CustomJob (its display
    name, labels, and ``jobSpec`` as ``trialJobSpec``) with the search's fields."""
    return {"displayName": custom_job["displayName"], "labels": dict(custom_job["labels"]),
            **space.job_fields(), "trialJobSpec": custom_job["jobSpec"]}


def submit_tuning(spec: JobSpec, space: SearchSpace, backend: Backend, history: History, *,
                  xgroup: str, progress: Progress = ignore) -> list[JobRecord]:
    """Create the tuning job for ``spec`` exactly once; return its record (recorded
    ``NOT_SUBMITTED`` first, so an interruption loses nothing)."""
    from ..backends.base import RetryPolicy, TransientBackendError
    from ..errors import BackendError
    from ..records import SID_LABEL, record_for_spec
    from .submit import PENDING_REASON, SweepSubmissionError, prepare_specs, sweep_region

    if not hasattr(backend, "create_tuning"):
        raise UsageError(_NO_TUNING.format(name=backend.name))
    service: Any = backend  # a TuningService too (checked above)
    ((labelled, sid, custom_job),) = prepare_specs([spec], xgroup)
    body = tuning_job_body(space, custom_job)
    history.add_group(xgroup, backend=backend.name, project=backend.project,
                      region=sweep_region([spec], backend.region))
    history.add_experiments(xgroup, [(labelled.index, labelled.args, {})])
    record = record_for_spec(labelled, submission_id=sid, xgroup=xgroup, backend=backend.name,
                             project=backend.project, error=PENDING_REASON, body=body)
    history.put_job(record)
    policy = RetryPolicy()
    created: dict[str, Any] | None = None
    reason = "unknown"
    ambiguous = False
    for attempt in range(policy.max_attempts):
        if attempt:
            policy.backoff(attempt - 1)
        try:
            if ambiguous:
                created = next((j for j in service.list_tuning_group(xgroup)
                                if (j.get("labels") or {}).get(SID_LABEL) == sid), None)
                if created is not None:
                    break
                ambiguous = False
            created = service.create_tuning(body)
            break
        except TransientBackendError as e:
            ambiguous, reason = ambiguous or e.ambiguous, str(e)
        except BackendError as e:
            reason = str(e)
            break
    if created is None:
        record = record.evolve(error=reason)
        history.put_job(record)
        raise SweepSubmissionError(f"the tuning job of group {xgroup!r} was not submitted "
                                   f"({reason})", [record])
    name = str(created.get("name", ""))
    record = record_from_tuning_job(created, backend=backend.name, project=backend.project,
                                    url=backend.job_url(name), previous=record)
    history.put_job(record)
    progress(JobSubmitted(1, 1, record.display_name, name, record.url or ""))
    return [record]


def tuning_results(records: Sequence[JobRecord], locator: Any, *, workers: int = 8
                   ) -> list[dict[str, Any]]:
    """:func:`trial_rows` of each tuning job, with each finished trial's ``-o`` values
    (read from its output location ``BASE/TRIAL_ID``, in parallel) before ``state``."""
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import CalibanError
    from .outputs import read_outputs

    pairs = [(record, row) for record in records for row in trial_rows(record)]

    def values(pair: tuple[JobRecord, dict[str, Any]]) -> dict[str, Any]:
        record, row = pair
        uri = trial_output_uri(record, row["trial"])
        if uri is None or row["state"] not in ("SUCCEEDED", "INFEASIBLE"):
            return {}
        trial = record.evolve(state="SUCCEEDED", error=None, request={
            "jobSpec": {"baseOutputDirectory": {"outputUriPrefix": uri}}})
        try:
            return dict(read_outputs(trial, locator.locate(trial)).values)
        except CalibanError:
            return {}  # the trial's row already says how it ended

    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="caliban-trials") as pool:
        found = list(pool.map(values, pairs))
    out = []
    for (record, row), saved in zip(pairs, found, strict=True):
        tail = {k: row.pop(k) for k in ("state", "error", "best")}
        out.append({**row, **{k: v for k, v in saved.items() if k not in row}, **tail,
                    "cost_usd": _trial_cost(record, row["trial"])})
    return out


def _trial_cost(record: JobRecord, trial_id: str) -> float | None:
    """A trial's estimated cost so far: its run time at its machine's list price (as a
    sweep's ``cost_usd``); a failed trial billed too (our choice)."""
    from ..spec.cost import cost_so_far

    trial = next((t for t in record.trials if str(t.get("id")) == trial_id), {})
    ended = trial.get("endTime")
    fields = {"state": "SUCCEEDED" if ended else "RUNNING", "started": trial.get("startTime"),
              "ended": ended, "region": record.region,
              "request": {"jobSpec": record.request.get("trialJobSpec") or {}}}
    return cost_so_far(fields)["usd"]


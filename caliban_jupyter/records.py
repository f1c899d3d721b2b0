"""Job records: what is known about one submitted (or not submitted) job, in one JSON form.

A :class:`JobRecord` is what the CLI prints, what the history stores, what widgets show and
what the REST API returns. It is built either from a :class:`~caliban_jupyter.spec.jobs.JobSpec`
before submission (:func:`record_for_spec`) or from a CustomJob JSON returned by the service
(:func:`record_from_custom_job`), which is how a group is rebuilt from its labels alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .spec.executors import PackageRun, pool_image_and_args
from .spec.jobs import JobSpec, MachineSpec
from .spec.labels import INDEX_KEY, SID_KEY, XGROUP_KEY

#: Label carrying each job's unique submission id (what makes submission exactly-once).
SID_LABEL = SID_KEY
#: Label carrying each job's 1-based index in its experiment group.
INDEX_LABEL = INDEX_KEY
#: Label carrying the experiment group (set by spec/labels.py on every job).
XGROUP_LABEL = XGROUP_KEY

NOT_SUBMITTED = "NOT_SUBMITTED"
TERMINAL_STATES = frozenset(
    {"SUCCEEDED", "FAILED", "CANCELLED", "PAUSED", "EXPIRED", "PARTIALLY_SUCCEEDED"}
)
KNOWN_STATES = TERMINAL_STATES | {
    "QUEUED", "PENDING", "RUNNING", "CANCELLING", "UPDATING", NOT_SUBMITTED,
}
#: States `caliban resubmit` re-runs by default.
RESUBMITTABLE_STATES = frozenset({"FAILED", "CANCELLED", NOT_SUBMITTED})
#: The order states are summarized in: what needs attention first.
SUMMARY_ORDER = ("RUNNING", "PENDING", "QUEUED", "SUCCEEDED", "FAILED", "CANCELLING",
                 "CANCELLED", NOT_SUBMITTED)


@dataclass(frozen=True)
class JobRecord:
    """One job of an experiment group, as last seen.

    ``state`` is the Vertex state without its ``JOB_STATE_`` prefix, or ``NOT_SUBMITTED``
    when submission failed (``error`` then says why). Timestamps are the service's RFC 3339
    strings (``None`` until known). ``request`` is the full CustomJob body that was (or was
    to be) sent; ``machine`` is the :meth:`MachineSpec.to_json` form.
    """

    submission_id: str
    display_name: str
    xgroup: str
    index: int
    state: str
    backend: str
    project: str
    region: str
    image_uri: str
    args: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    machine: Mapping[str, Any] = field(default_factory=dict)
    resource_name: str | None = None
    created: str | None = None
    started: str | None = None
    ended: str | None = None
    updated: str | None = None
    error: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    #: ``enableWebAccess`` jobs: replica (``workerpool0-0``) -> interactive shell URI.
    web_access_uris: Mapping[str, str] = field(default_factory=dict)
    #: A hyperparameter tuning job's trials as the service last returned them (Vertex's
    #: ``trials[]``: id, state, parameters, finalMeasurement...); empty for a CustomJob.
    trials: tuple[Mapping[str, Any], ...] = ()

    @property
    def is_tuning(self) -> bool:
        """True for a hyperparameter tuning job (``--tune``), whose rows are its trials."""
        return "studySpec" in self.request

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change state by itself."""
        return self.state in TERMINAL_STATES

    @property
    def is_submitted(self) -> bool:
        return self.state != NOT_SUBMITTED

    @property
    def strategy(self) -> str:
        """How Vertex schedules the job: ``SPOT``, ``FLEX_START`` or ``on-demand``."""
        scheduling = (self.request.get("jobSpec") or {}).get("scheduling") or {}
        strategy = scheduling.get("strategy")
        return strategy if strategy in ("SPOT", "FLEX_START") else "on-demand"

    @property
    def job_id(self) -> str | None:
        """The last segment of the resource name (the id in URLs)."""
        return self.resource_name.rsplit("/", 1)[-1] if self.resource_name else None

    def to_json(self) -> dict[str, Any]:
        """The one JSON form (plain dict of JSON types)."""
        # Field by field, not dataclasses.asdict: that deep-copies the request body only for
        # it to be replaced, and costed most of a sweep's history writes (bench/).
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["args"] = list(self.args)
        out["labels"] = dict(self.labels)
        out["machine"] = dict(self.machine)
        out["request"] = json.loads(json.dumps(self.request))
        out["web_access_uris"] = dict(self.web_access_uris)
        out["trials"] = json.loads(json.dumps(list(self.trials)))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRecord:
        """Inverse of :meth:`to_json`; unknown keys are ignored (forward compatibility)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["args"] = tuple(kwargs.get("args") or ())
        kwargs["index"] = int(kwargs.get("index") or 0)
        kwargs["trials"] = tuple(kwargs.get("trials") or ())
        return cls(**kwargs)

    def evolve(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)


def latest_attempts(records: Iterable[JobRecord]) -> list[JobRecord]:
    """Each job once: the last record of each index, in index order.

    ``records`` come oldest attempt first per index (the order of
    :meth:`~caliban_jupyter.history.History.jobs`), so a resubmission replaces the attempt
    it retries. Every count of a group's jobs goes through this function: counting every
    attempt makes a 400-job group with 379 retries look like 779 jobs.
    """
    latest: dict[int, JobRecord] = {}
    for record in records:
        latest[record.index] = record
    return [latest[i] for i in sorted(latest)]


def state_counts(records: Iterable[JobRecord]) -> dict[str, int]:
    """How many jobs are in each state, each job counted once (its latest attempt), in
    :data:`SUMMARY_ORDER` (states it does not list come last, sorted)."""
    counts = Counter(r.state for r in latest_attempts(records))
    ordered = [s for s in SUMMARY_ORDER if s in counts] + sorted(set(counts) - set(SUMMARY_ORDER))
    return {s: counts[s] for s in ordered}


def state_summary(records: Iterable[JobRecord]) -> str:
    """``1 RUNNING, 3 SUCCEEDED`` (each job once, attention first), or ``no jobs``."""
    return ", ".join(f"{n} {s}" for s, n in state_counts(records).items()) or "no jobs"


def strip_state(state: str | int | None) -> str:
    """``JOB_STATE_RUNNING`` -> ``RUNNING`` (unknown or missing -> ``UNSPECIFIED``)."""
    if not state or not isinstance(state, str):
        return "UNSPECIFIED"
    return state.removeprefix("JOB_STATE_")


def machine_from_json(data: Mapping[str, Any]) -> MachineSpec:
    """Inverse of :meth:`MachineSpec.to_json` (accepts int64 counts sent as strings)."""
    return MachineSpec.from_json(data)


def _first_pool(body: Mapping[str, Any]) -> Mapping[str, Any]:
    pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or [{}]
    return pools[0] or {}


def record_for_spec(
    spec: JobSpec,
    *,
    submission_id: str,
    xgroup: str,
    backend: str,
    project: str,
    error: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> JobRecord:
    """The record of a job about to be submitted (state ``NOT_SUBMITTED`` until created).

    ``body`` is the spec's CustomJob body when the caller has built it already (it is the
    one sent: building it again would cost as much as the rest of the record).
    """
    if body is None:
        body = spec.to_custom_job()
    return JobRecord(
        submission_id=submission_id,
        display_name=spec.display_name,
        xgroup=xgroup,
        index=spec.index,
        state=NOT_SUBMITTED,
        backend=backend,
        project=project,
        region=spec.region,
        image_uri=spec.image_uri,
        args=tuple(spec.args),
        labels=dict(spec.labels),
        machine=spec.machine.to_json(),
        error=error,
        request=body,
    )


def record_from_custom_job(
    job: Mapping[str, Any],
    *,
    backend: str,
    project: str | None = None,
    url: str | None = None,
    previous: JobRecord | None = None,
) -> JobRecord:
    """A record from a CustomJob JSON as the service returns it (``MessageToDict`` form).

    Everything needed is read from the job itself (labels give xgroup, index and submission
    id), so a group can be rebuilt with no local history. ``previous`` keeps what the
    service does not echo back (the exact request we sent). ``project`` is the project id
    (resource names carry the project *number*); by default the previous record's, else
    the number.
    """
    labels = dict(job.get("labels") or {})
    name = str(job.get("name", ""))
    # projects/P/locations/L/customJobs/ID
    parts = name.split("/")
    project = project or (previous.project if previous else "") or (
        parts[1] if len(parts) > 3 else "")
    region = parts[3] if len(parts) > 3 else (previous.region if previous else "")
    pool = _first_pool(job)
    image_uri, args = pool_image_and_args(pool)
    error = (job.get("error") or {}).get("message") or None
    try:
        index = int(labels.get(INDEX_LABEL, previous.index if previous else 0))
    except ValueError:
        index = 0
    request: Mapping[str, Any]
    if previous is not None and previous.request:
        request = previous.request
    else:
        request = {k: job[k] for k in ("displayName", "labels", "jobSpec") if k in job}
    return JobRecord(
        submission_id=labels.get(SID_LABEL) or (previous.submission_id if previous else name),
        display_name=str(job.get("displayName", previous.display_name if previous else "")),
        xgroup=labels.get(XGROUP_LABEL, previous.xgroup if previous else ""),
        index=index,
        state=strip_state(job.get("state")),
        backend=backend,
        project=project,
        region=region,
        image_uri=image_uri or (previous.image_uri if previous else ""),
        args=args,
        labels=labels,
        machine=dict(pool.get("machineSpec") or {}),
        resource_name=name or None,
        created=job.get("createTime"),
        started=job.get("startTime"),
        ended=job.get("endTime"),
        updated=job.get("updateTime"),
        error=error,
        request=request,
        url=url,
        web_access_uris=dict(job.get("webAccessUris") or
                             (previous.web_access_uris if previous else {})),
    )


def spec_from_record(record: JobRecord, *, display_name: str) -> JobSpec:
    """A new JobSpec re-running ``record``'s image (or code package) and args (for
    `caliban resubmit`), with the runtime settings it was sent with (scheduling, worker
    pools, env...).

    The submission-id label is dropped: the submitter assigns a fresh one.
    """
    from .spec.runtime import JobRuntime

    labels = {k: v for k, v in record.labels.items() if k != SID_LABEL}
    if not record.labels and record.request:
        labels = {k: v for k, v in (record.request.get("labels") or {}).items() if k != SID_LABEL}
    output_uri = output_uri_of(record)
    if output_uri:
        from .spec.outputs import renamed_output_uri

        output_uri = renamed_output_uri(output_uri, display_name)
    return JobSpec(
        display_name=display_name,
        index=record.index,
        region=record.region,
        image_uri=record.image_uri,
        args=tuple(record.args),
        labels=labels,
        machine=machine_from_json(record.machine or _first_pool(record.request).get(
            "machineSpec", {})),
        runtime=JobRuntime.from_job_spec(record.request.get("jobSpec")),
        package=PackageRun.from_pool(_first_pool(record.request)),
        output_uri=output_uri,
        notebook=notebook_of(record),
    )


def retry_specs(records: Sequence[JobRecord], configs: Mapping[int, Mapping[str, Any]], *,
                indices: Collection[int] | None = None, all_jobs: bool = False
                ) -> tuple[list[JobRecord], list[JobSpec]]:
    """What a resubmission sends: the latest attempts chosen (those of ``indices``, else
    every job with ``all_jobs``, else the FAILED, CANCELLED and NOT_SUBMITTED ones) and a
    spec for each, named ``NAME-retryN`` after the job's first attempt, with its
    experiment parameters from ``configs``."""
    attempts: dict[int, list[JobRecord]] = {}
    for record in records:
        attempts.setdefault(record.index, []).append(record)
    chosen = [r for r in latest_attempts(records)
              if (r.index in indices if indices is not None
                  else all_jobs or r.state in RESUBMITTABLE_STATES)]
    specs = []
    for record in chosen:
        tried = attempts[record.index]
        suffix = f"-retry{len(tried)}"  # Vertex display names: 128 characters
        spec = spec_from_record(record, display_name=tried[0].display_name[:128 - len(suffix)]
                                + suffix)
        specs.append(replace(spec, experiment=configs.get(record.index, {})))
    return chosen, specs


def notebook_of(record: JobRecord) -> str | None:
    """The notebook a notebook job executes (None for other jobs)."""
    from .spec.jobs import NOTEBOOK_ENV

    pool = _first_pool(record.request)
    container = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    for item in container.get("env") or ():
        if isinstance(item, Mapping) and item.get("name") == NOTEBOOK_ENV:
            return str(item.get("value") or "") or None
    return None


def executed_notebook_url(record: JobRecord) -> str | None:
    """Where a person opens a notebook job's executed notebook, as its job service says
    (the emulator's page for it, the Cloud console's page of the object); None for other
    jobs, no location, or a service no longer installed."""
    uri = output_uri_of(record)
    if not uri or notebook_of(record) is None:
        return None
    from .backends.registry import load
    from .errors import ConfigError

    try:
        service = load(record.backend)
    except ConfigError:
        return None
    return service.notebook_url(uri, record.url)


def output_uri_of(record: JobRecord) -> str | None:
    """The job's output location (``baseOutputDirectory``) as requested, or None."""
    spec = (record.request or {}).get("jobSpec") or {}
    return ((spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")) or None


# -- a tuning job's trials as rows (service/tuning.py) -------------------------------

def _metric_and_goal(record: JobRecord) -> tuple[str, str]:
    metrics = (record.request.get("studySpec") or {}).get("metrics") or [{}]
    return str(metrics[0].get("metricId", "")), str(metrics[0].get("goal", "MAXIMIZE"))


def trial_output_uri(record: JobRecord, trial_id: str) -> str | None:
    """A trial's output location: ``BASE/TRIAL_ID`` (CustomJobSpec.baseOutputDirectory:
    "For HyperparameterTuningJob, the baseOutputDirectory of each child CustomJob backing
    a Trial is set to a subdirectory of name id under its parent HyperparameterTuningJob's
    baseOutputDirectory")."""
    spec = record.request.get("trialJobSpec") or {}
    base = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
    return f"{base.rstrip('/')}/{trial_id}" if base else None


def trial_rows(record: JobRecord) -> list[dict[str, Any]]:
    """One row per trial: ``trial``, ``job`` (its CustomJob, when the service says),
    each parameter, the metric, ``state``, ``error``, ``best`` (True on the best trial so
    far); in trial order."""
    metric, goal = _metric_and_goal(record)
    # An integer parameter's value comes back as a JSON number (google.protobuf.Value):
    # shown as the int the trial was given.
    integers = {str(p.get("parameterId")) for p in
                (record.request.get("studySpec") or {}).get("parameters") or ()
                if "integerValueSpec" in p}
    rows = []
    for trial in record.trials:
        # ``job``: the trial's CustomJob (Trial.customJob), for `caliban logs JOB`.
        row: dict[str, Any] = {"trial": str(trial.get("id", "")),
                               "job": trial.get("customJob") or None}
        for p in trial.get("parameters") or ():
            name, value = str(p.get("parameterId")), p.get("value")
            if name in integers and isinstance(value, float) and value.is_integer():
                value = int(value)
            row[name] = value
        final = (trial.get("finalMeasurement") or {}).get("metrics") or ()
        value = next((m.get("value") for m in final if m.get("metricId") == metric), None)
        row[metric] = value
        row["state"] = str(trial.get("state") or "STATE_UNSPECIFIED")
        row["error"] = trial.get("infeasibleReason") or None
        row["best"] = False
        rows.append(row)
    best = best_row(rows, metric, goal)
    if best is not None:
        best["best"] = True
    return rows


def best_row(rows: Sequence[dict[str, Any]], metric: str, goal: str) -> dict[str, Any] | None:
    """The row with the best ``metric`` (``goal`` MAXIMIZE or MINIMIZE), or None."""
    scored = [r for r in rows if isinstance(r.get(metric), (int, float))]
    if not scored:
        return None
    pick = min if goal.upper().startswith("MIN") else max
    return pick(scored, key=lambda r: r[metric])


def search_of(records: Sequence[JobRecord]) -> dict[str, Any] | None:
    """The first tuning job's ``metric``, ``goal`` (MAXIMIZE/MINIMIZE) and ``parameters``
    (names), or None when ``records`` hold none."""
    for record in records:
        if record.is_tuning:
            metric, goal = _metric_and_goal(record)
            params = [str(p.get("parameterId")) for p in
                      (record.request.get("studySpec") or {}).get("parameters") or ()]
            return {"metric": metric, "goal": goal, "parameters": params}
    return None


def record_from_tuning_job(job: Mapping[str, Any], *, backend: str, project: str | None,
                           url: str | None, previous: JobRecord | None) -> JobRecord:
    """The record of a tuning job as the service returns it (its trials kept)."""
    as_job = {**job, "jobSpec": job.get("trialJobSpec") or {}}
    record = record_from_custom_job(as_job, backend=backend, project=project, url=url,
                                    previous=previous)
    request = previous.request if previous is not None and previous.request else {
        k: job[k] for k in ("displayName", "labels", "studySpec", "maxTrialCount",
                            "parallelTrialCount", "maxFailedTrialCount", "trialJobSpec")
        if k in job}
    return record.evolve(request=request, trials=tuple(job.get("trials") or ()))


def refresh_tuning(record: JobRecord, backend: Any) -> JobRecord:
    """``record`` as the service has its tuning job now (one get call)."""
    if not record.resource_name:
        return record
    job = backend.get_tuning(record.resource_name)  # type: ignore[attr-defined]
    return record_from_tuning_job(job, backend=backend.name, project=record.project,
                                  url=record.url or backend.job_url(record.resource_name),
                                  previous=record)

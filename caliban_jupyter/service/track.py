"""Following submitted jobs: status, stop, resubmit, logs (the notebook API and the CLI).

Every function reads the cloud through list calls filtered by the group's ``xgroup``
label (one call per page, never a get per job) and writes what it saw to the history.
When a listing fails, the history keeps its last known states (a transient API error
never makes a job look FAILED), so the next refresh picks up where this one stopped.

Each function takes ``backend``/``history`` for callers that hold them (notebooks, tests);
otherwise they come from ``settings``, and a group already in the history is looked up
where it was submitted (its backend, project and region) unless flags say otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..backends.base import Backend
from ..errors import BackendError, NotFoundError, UsageError
from ..events import Info, JobStateChanged, Progress, Warning_, ignore
from ..history import GroupRecord, History
from ..records import (
    RESUBMITTABLE_STATES,
    SID_LABEL,
    JobRecord,
    latest_attempts,
    record_for_spec,
    record_from_custom_job,
    spec_from_record,
)
from ..settings import Settings

__all__ = ["refresh_group", "status", "stop", "resubmit", "logs", "find_job",
           "latest_attempts"]


def refresh_group(xgroup: str, backend: Backend, history: History, *,
                  progress: Progress = ignore) -> list[JobRecord]:
    """Update the history from one listing of ``xgroup``; return the group's records.

    Works with no local history at all: the group and its jobs are rebuilt from the
    labels. Raises :class:`BackendError` (recording nothing) when the listing fails.
    """
    known = {r.submission_id: r for r in history.jobs(xgroup)}
    listed: dict[str, list[dict[str, Any]]] = {}
    for job in backend.list_group(xgroup):  # a failure here leaves the history untouched
        sid = (job.get("labels") or {}).get(SID_LABEL) or str(job.get("name", ""))
        listed.setdefault(sid, []).append(job)
    if history.group(xgroup) is None:
        if not listed and not known:
            raise NotFoundError(
                f"no jobs labeled xgroup={xgroup} in project {backend.project!r}, region "
                f"{backend.region!r} ({backend.name}); check --xgroup, --project_id, "
                "--region and --backend, or list recent groups with `caliban status`")
        created = min((str(j.get("createTime") or "") for js in listed.values() for j in js),
                      default=None)
        history.add_group(xgroup, backend=backend.name, project=backend.project,
                          region=backend.region, created=created or None)
    changed = []
    for sid, jobs in listed.items():
        previous = known.get(sid)
        # Duplicates of one submission id (cancelled by the submitter) are not shown: keep
        # the job we recorded, else the first created.
        mine = [j for j in jobs if previous and j.get("name") == previous.resource_name]
        job = mine[0] if mine else min(
            jobs, key=lambda j: (str(j.get("createTime", "")), str(j.get("name", ""))))
        name = str(job.get("name", ""))
        record = record_from_custom_job(job, backend=backend.name,
                                            project=backend.project, url=backend.job_url(name),
                                        previous=previous)
        if previous is not None and previous.state != record.state and record.is_submitted:
            progress(JobStateChanged(record.display_name, name, record.state))
        if record != previous:
            changed.append(record)
    # Attempts first seen in the same listing (a group rebuilt from its labels) are
    # recorded in creation order: the history orders a job's attempts by when they were
    # recorded, and the last one is the job's state (records.latest_attempts).
    changed.sort(key=lambda r: (r.created or "", r.display_name))
    history.put_jobs(changed)
    return history.jobs(xgroup)


# -- choosing the backend -----------------------------------------------------------------

def _history(history: History | None) -> History:
    return history if history is not None else History()


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from ..settings import resolve_settings

    return resolve_settings({}, gpu=False)


def backend_for_group(group: GroupRecord | None, settings: Settings | None,
                      progress: Progress = ignore) -> Backend:
    """The backend a group lives on: the recorded one, unless a flag overrides it."""
    from ..backends import get_backend

    resolved = _settings(settings)
    if group is not None:
        flagged = {k for k, v in resolved.sources.items() if v == "flag"}
        changes: dict[str, Any] = {}
        if "backend" not in flagged:
            changes["backend"] = group.backend
        if "project_id" not in flagged:
            changes["project_id"] = group.project
        if "region" not in flagged and "," not in group.region:
            changes["region"] = group.region
        resolved = replace(resolved, **changes)
    return get_backend(resolved, progress=progress)


def _latest_group(history: History) -> GroupRecord:
    groups = history.latest_groups(1)
    if not groups:
        raise NotFoundError(f"no experiment groups recorded in {history.path}; pass --xgroup "
                            "to look one up in the cloud by its label")
    return groups[0]


def _resolve(xgroup: str | None, settings: Settings | None, backend: Backend | None,
             history: History, progress: Progress) -> tuple[str, Backend]:
    group = history.group(xgroup) if xgroup else _latest_group(history)
    name = xgroup or (group.xgroup if group else "")
    if backend is None and group is None:
        _check_lookup(name, settings, history)
    return name, backend or backend_for_group(group, settings, progress)


def nearest_groups(xgroup: str, history: History, n: int = 3) -> list[str]:
    """The recorded group names closest to ``xgroup`` (for a mistyped one)."""
    import difflib

    return difflib.get_close_matches(xgroup, history.group_names(), n=n, cutoff=0.5)


def _unknown_group(xgroup: str, history: History, where: str) -> str:
    near = nearest_groups(xgroup, history)
    hint = (f"; did you mean {' or '.join(near)}?" if near
            else "; list recent groups with `caliban status`")
    return f"no experiment group {xgroup!r} is recorded in {history.path}{hint} {where}"


def _check_lookup(xgroup: str, settings: Settings | None, history: History) -> None:
    """A group the history does not know can only be looked up in the cloud with a job
    service to ask: without one, say that the group is unknown (and the nearest names),
    not that a project is missing."""
    resolved = _settings(settings)
    if resolved.backend == "vertex" and not resolved.project_id:
        raise NotFoundError(_unknown_group(
            xgroup, history, "(to look a group submitted elsewhere up by its label, pass "
            "--project_id, or --backend local for the local emulator)"))


def _refresh_unknown(xgroup: str, backend: Backend, history: History,
                     progress: Progress) -> list[JobRecord]:
    """:func:`refresh_group` for a group the history may not know, naming near misses."""
    try:
        return refresh_group(xgroup, backend, history, progress=progress)
    except NotFoundError as e:
        near = nearest_groups(xgroup, history)
        if not near:
            raise
        raise NotFoundError(f"{e}; recorded groups with a similar name: "
                            f"{', '.join(near)}") from None


# -- status -------------------------------------------------------------------------------

def _check_count(flag: str, value: Any, least: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < least):
        raise UsageError(f"{flag} takes a whole number of at least {least}, not {value!r}")


def status(xgroup: str | None = None, *, settings: Settings | None = None,
           backend: Backend | None = None, history: History | None = None,
           max_jobs: int | None = None, max_groups: int = 5, refresh: bool = True,
           all_attempts: bool = False, progress: Progress = ignore) -> list[JobRecord]:
    """The jobs of ``xgroup`` (refreshed), or of the latest ``max_groups`` groups.

    Each job once, by its latest attempt (``all_attempts``: every attempt, oldest first
    per index). ``max_jobs`` limits the jobs shown per group. When a refresh fails, the
    recorded states are returned with a warning (they stay refreshable).
    """
    _check_count("--max_jobs", max_jobs)
    _check_count("--max_groups", max_groups)
    hist = _history(history)
    if xgroup:
        known = hist.group(xgroup)
        if known is None and backend is None:
            _check_lookup(xgroup, settings, hist)
        groups = [known or GroupRecord(xgroup, "", "", "", "")]
    else:
        groups = hist.latest_groups(max_groups)
    out: list[JobRecord] = []
    for group in groups:
        records = hist.jobs(group.xgroup)
        if refresh:
            try:
                be = backend or backend_for_group(hist.group(group.xgroup), settings, progress)
                records = _refresh_unknown(group.xgroup, be, hist, progress)
            except NotFoundError:
                raise
            except BackendError as e:
                if not records:
                    raise
                progress(Warning_(f"could not refresh group {group.xgroup!r} ({e}); showing "
                                  "the states last recorded"))
        if not all_attempts:
            records = latest_attempts(records)
        out.extend(records[:max_jobs] if max_jobs is not None else records)
    return out


# -- stop ---------------------------------------------------------------------------------

def stop(xgroup: str | None = None, *, settings: Settings | None = None,
         backend: Backend | None = None, history: History | None = None,
         dry_run: bool = False, confirm: Callable[[list[JobRecord]], bool] | None = None,
         progress: Progress = ignore, indices: Collection[int] | None = None
         ) -> list[JobRecord]:
    """Cancel the running (non-terminal) jobs of ``xgroup`` (default: the latest group);
    with ``indices``, only the running attempts of those jobs.

    ``confirm`` gets the jobs about to stop (it decides whether to ask: the CLI's asks for
    more than one); a False answer stops nothing. Returns the jobs stopped (or, with
    ``dry_run``, the ones that would be).
    """
    hist = _history(history)
    name, be = _resolve(xgroup, settings, backend, hist, progress)
    records = _refresh_unknown(name, be, hist, progress)
    targets = [r for r in records if r.is_submitted and not r.is_terminal
               and r.state != "CANCELLING" and r.resource_name
               and (indices is None or r.index in indices)]
    if not targets:
        progress(Info(f"no running jobs in group {name!r}"))
        return []
    if dry_run:
        return targets
    if confirm is not None and not confirm(targets):
        progress(Info("nothing stopped"))
        return []
    errors: list[str] = []

    def cancel(record: JobRecord) -> None:
        try:
            be.cancel(str(record.resource_name))
        except BackendError as e:
            errors.append(f"{record.display_name}: {e}")

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="caliban-stop") as pool:
        list(pool.map(cancel, targets))
    try:
        refresh_group(name, be, hist, progress=progress)
    except BackendError as e:
        progress(Warning_(f"stopped, but could not refresh group {name!r}: {e}"))
    if errors:
        raise BackendError(f"could not stop {len(errors)} of {len(targets)} jobs "
                           f"({errors[0]}); run `caliban stop --xgroup {name}` again")
    progress(Info(f"asked {len(targets)} job(s) of group {name!r} to stop"))
    return targets


# -- resubmit -----------------------------------------------------------------------------

def _retry_name(base: str, attempt: int) -> str:
    suffix = f"-retry{attempt}"
    return base[: 128 - len(suffix)] + suffix  # Vertex display names: 128 characters


def resubmit(xgroup: str, *, settings: Settings | None = None,
             backend: Backend | None = None, history: History | None = None,
             all_jobs: bool = False, dry_run: bool = False, progress: Progress = ignore,
             max_workers: int = 8, rate_per_minute: float | None = None,
             indices: Collection[int] | None = None) -> list[JobRecord]:
    """Submit again the jobs of ``xgroup`` that FAILED, were CANCELLED or NOT_SUBMITTED
    (every job with ``all_jobs``; exactly the jobs of ``indices`` when given, whatever
    their state), with the image they ran: no rebuild.

    Only the latest attempt of each index counts, so running it twice does not resubmit
    what the first run already did. New jobs get new display names and submission ids
    and stay in the same group. Returns the new records (not submitted with ``dry_run``).
    """
    from .submit import check_rate, submit_sweep

    if not xgroup:
        raise UsageError("pass --xgroup: the experiment group whose jobs to resubmit")
    check_rate(rate_per_minute)
    hist = _history(history)
    name, be = _resolve(xgroup, settings, backend, hist, progress)
    # The refresh also adopts NOT_SUBMITTED jobs that were in fact created.
    records = _refresh_unknown(name, be, hist, progress)
    attempts: dict[int, list[JobRecord]] = {}
    for record in records:
        attempts.setdefault(record.index, []).append(record)
    chosen = [r for r in latest_attempts(records)
              if (r.index in indices if indices is not None
                  else all_jobs or r.state in RESUBMITTABLE_STATES)]
    if not chosen:
        progress(Info(f"nothing to resubmit in group {name!r}: no FAILED, CANCELLED or "
                      "NOT_SUBMITTED jobs (pass --all_jobs to resubmit every job)"))
        return []
    configs = {e["index"]: e["config"] for e in hist.experiments(name)}
    specs = []
    for record in chosen:
        first = attempts[record.index][0]
        spec = spec_from_record(record, display_name=_retry_name(
            first.display_name, len(attempts[record.index])))
        specs.append(replace(spec, experiment=configs.get(record.index, {})))
    if dry_run:
        return [record_for_spec(s, submission_id="", xgroup=name, backend=be.name,
                                project=be.project, error="dry run: not submitted")
                for s in specs]
    from .build import restage

    # Jobs of a code package whose upload failed: upload it again from the local cache.
    restage(specs, project=be.project, cloud_key=settings.cloud_key if settings else None,
            progress=progress)
    superseded = [r.evolve(error=f"{r.error or 'not submitted'}; resubmitted")
                  for r in chosen if not r.is_submitted]
    hist.put_jobs(superseded)
    return submit_sweep(specs, be, hist, xgroup=name, progress=progress,
                        max_workers=max_workers, rate_per_minute=rate_per_minute)


# -- logs ---------------------------------------------------------------------------------

def find_job(job: str, *, xgroup: str | None = None, settings: Settings | None = None,
             backend: Backend | None = None, history: History | None = None,
             progress: Progress = ignore) -> tuple[JobRecord | None, Backend, str]:
    """The submitted job ``job`` names (a display name, resource name or job id), the
    backend it lives on and its resource name.

    The record is None for a resource name the history does not know (the backend is then
    asked directly). Raises :class:`NotFoundError` when nothing matches, and
    :class:`UsageError` when the name is ambiguous across groups.
    """
    if not isinstance(job, str) or not job.strip():
        raise UsageError(f"name the job (a display name, resource name or job id from "
                         f"`caliban status`), not {job!r}")
    hist = _history(history)
    matches = hist.find_jobs(job, xgroup=xgroup)
    if not matches and xgroup:
        known = hist.group(xgroup)
        if known is None and backend is None:
            _check_lookup(xgroup, settings, hist)
        be = backend or backend_for_group(known, settings, progress)
        _refresh_unknown(xgroup, be, hist, progress)
        matches = hist.find_jobs(job, xgroup=xgroup)
    matches = [m for m in matches if m.resource_name]
    if "/customJobs/" in job and not matches:
        return None, backend or backend_for_group(None, settings, progress), job
    if not matches:
        where = f"group {xgroup!r}" if xgroup else str(hist.path)
        raise NotFoundError(f"no submitted job named {job!r} in {where}; pass a display name "
                            "or resource name from `caliban status`, and --xgroup for jobs "
                            "submitted from another machine")
    groups = sorted({m.xgroup for m in matches})
    if len({m.resource_name for m in matches}) > 1 and len(groups) > 1:
        raise UsageError(f"{job!r} names jobs in several groups ({', '.join(groups)}); "
                         "pass --xgroup to choose one")
    record = matches[0]
    be = backend or backend_for_group(hist.group(record.xgroup), settings, progress)
    return record, be, str(record.resource_name)


def logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
         settings: Settings | None = None, backend: Backend | None = None,
         history: History | None = None, progress: Progress = ignore) -> str:
    """The output of ``job`` (a display name, resource name or job id) on the emulator.

    On Vertex the logs live in Cloud Logging; the error raised gives their URL.
    """
    _check_count("--tail", tail, least=0)
    _, be, name = find_job(job, xgroup=xgroup, settings=settings, backend=backend,
                           history=history, progress=progress)
    return be.logs(name, tail=tail)

"""Finding a group or a job and reading its state: what every verb on a group starts with.

Groups are read from the cloud through list calls filtered by their ``xgroup`` label (one
call per page, never a get per job), and what was seen is written to the history. When a
listing fails, the history keeps its last known states (a transient API error never makes
a job look FAILED), so the next refresh picks up where this one stopped.

A group already in the history is looked up where it was submitted (its backend, project
and region) unless flags say otherwise; :class:`~caliban_jupyter.service.groups.JobGroup`
holds what these functions find.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..backends.base import Backend
from ..errors import NotFoundError, UsageError
from ..events import JobStateChanged, Progress, ignore
from ..history import GroupRecord, History
from ..records import (
    SID_LABEL,
    JobRecord,
    record_from_custom_job,
    record_from_tuning_job,
    refresh_tuning,
)
from ..settings import Settings

__all__ = ["backend_for_group", "check_count", "check_lookup", "default_settings",
           "find_job", "latest_group", "nearest_groups", "refresh_group", "refresh_named",
           "settings_for_group"]


def refresh_group(xgroup: str, backend: Backend, history: History, *,
                  progress: Progress = ignore) -> list[JobRecord]:
    """Update the history from one listing of ``xgroup``; return the group's records
    (every attempt, in index order, then oldest recorded first).

    The history is read once: what changed is merged into what was read. Works with no
    local history at all: the group and its jobs are rebuilt from the labels. Raises
    :class:`BackendError` (recording nothing) when the listing fails.
    """
    known_list = history.jobs(xgroup)
    known = {r.submission_id: r for r in known_list}
    listed = list_by_submission(backend, xgroup)  # a failure leaves the history untouched
    # A group the history does not know may be a search: its tuning jobs are listed too
    # (one more call, only then), and CustomJobs carrying their ids are their trials'.
    tunings = []
    if not known_list and hasattr(backend, "list_tuning_group"):
        for job in backend.list_tuning_group(xgroup):  # type: ignore[attr-defined]
            name = str(job.get("name", ""))
            tunings.append(record_from_tuning_job(
                job, backend=backend.name, project=backend.project,
                url=backend.job_url(name), previous=None))
            listed.pop(tunings[-1].submission_id, None)
            listed.setdefault(tunings[-1].submission_id, [job])
    if not known_list and history.group(xgroup) is None:
        if not listed:
            raise NotFoundError(
                f"no jobs labeled xgroup={xgroup} in project {backend.project!r}, region "
                f"{backend.region!r} ({backend.name}); check --xgroup, --project_id, "
                "--region and --backend, or list recent groups with `caliban status`")
        created = min((str(j.get("createTime") or "") for js in listed.values() for j in js),
                      default=None)
        history.add_group(xgroup, backend=backend.name, project=backend.project,
                          region=backend.region, created=created or None)
    changed = []
    # A tuning job is read by its name (one get, with its trials); CustomJobs carrying its
    # submission id are its trials' jobs (the emulator lists them), not duplicates.
    for search in known_list:
        if search.is_tuning and search.resource_name:
            listed.pop(search.submission_id, None)
            now = refresh_tuning(search, backend)
            if search.state != now.state:
                progress(JobStateChanged(now.display_name, now.resource_name or "",
                                         now.state))
            if now != search:
                changed.append(now)
    by_sid = {r.submission_id: r for r in tunings}
    for sid, jobs in listed.items():
        if sid in by_sid:
            changed.append(by_sid[sid])
            continue
        previous = known.get(sid)
        # Duplicates of one submission id (cancelled by the submitter) are not shown.
        job = the_job(jobs, previous)
        name = str(job.get("name", ""))
        record = record_from_custom_job(job, backend=backend.name, project=backend.project,
                                        url=backend.job_url(name), previous=previous)
        if previous is not None and previous.state != record.state and record.is_submitted:
            progress(JobStateChanged(record.display_name, name, record.state))
        if record != previous:
            changed.append(record)
    # Attempts first seen in the same listing (a group rebuilt from its labels) are
    # recorded in creation order: the history orders a job's attempts by when they were
    # recorded, and the last one is the job's state (records.latest_attempts).
    changed.sort(key=lambda r: (r.created or "", r.display_name))
    history.put_jobs(changed)
    # The history's order without reading it again: known attempts keep their places,
    # new ones come after every attempt recorded before (stable sort by index).
    updated = {r.submission_id: r for r in changed}
    merged = [updated.pop(r.submission_id, r) for r in known_list]
    merged.extend(r for r in changed if r.submission_id in updated)
    return sorted(merged, key=lambda r: r.index)


def list_by_submission(backend: Backend, xgroup: str) -> dict[str, list[dict[str, Any]]]:
    """One listing of ``xgroup`` (one call per page): its jobs by submission id (a job
    without one, created elsewhere, by its resource name)."""
    listed: dict[str, list[dict[str, Any]]] = {}
    for job in backend.list_group(xgroup):
        sid = (job.get("labels") or {}).get(SID_LABEL) or str(job.get("name", ""))
        listed.setdefault(sid, []).append(job)
    return listed


def the_job(jobs: Sequence[dict[str, Any]], previous: JobRecord | None) -> dict[str, Any]:
    """Of the jobs carrying one submission id, the one that is the job: the one recorded
    (``previous``), else the first created; the others are duplicates a retry made.

    The one reconcile rule: the refresh shows this job, the submitter keeps it and
    cancels the others."""
    mine = [j for j in jobs if previous is not None and j.get("name") == previous.resource_name]
    return mine[0] if mine else min(
        jobs, key=lambda j: (str(j.get("createTime", "")), str(j.get("name", ""))))


def default_settings(settings: Settings | None) -> Settings:
    """``settings``, or the ones resolved from the environment and config file."""
    if settings is not None:
        return settings
    from ..settings import resolve_settings

    return resolve_settings({}, gpu=False)


def settings_for_group(group: GroupRecord | None, settings: Settings | None) -> Settings:
    """Where a group lives: its recorded backend, project and region, except where a flag
    says otherwise (a multi-region sweep keeps the given region)."""
    resolved = default_settings(settings)
    if group is None:
        return resolved
    flagged = {k for k, v in resolved.sources.items() if v == "flag"}
    changes: dict[str, Any] = {}
    if "backend" not in flagged and group.backend:
        changes["backend"] = group.backend
    if "project_id" not in flagged and group.project:
        changes["project_id"] = group.project
    if "region" not in flagged and group.region and "," not in group.region:
        changes["region"] = group.region
    return replace(resolved, **changes)


def backend_for_group(group: GroupRecord | None, settings: Settings | None,
                      progress: Progress = ignore) -> Backend:
    """The backend a group lives on: the recorded one, unless a flag overrides it."""
    from ..backends import get_backend

    return get_backend(settings_for_group(group, settings), progress=progress)


def latest_group(history: History) -> GroupRecord:
    """The newest group recorded on this machine."""
    groups = history.latest_groups(1)
    if not groups:
        raise NotFoundError(f"no experiment groups recorded in {history.path}; pass --xgroup "
                            "to look one up in the cloud by its label")
    return groups[0]


def nearest_groups(xgroup: str, history: History, n: int = 3) -> list[str]:
    """The recorded group names closest to ``xgroup`` (for a mistyped one)."""
    return difflib.get_close_matches(xgroup, history.group_names(), n=n, cutoff=0.5)


def _unknown_group(xgroup: str, history: History, where: str) -> str:
    near = nearest_groups(xgroup, history)
    hint = (f"; did you mean {' or '.join(near)}?" if near
            else "; list recent groups with `caliban status`")
    return f"no experiment group {xgroup!r} is recorded in {history.path}{hint} {where}"


def check_lookup(xgroup: str, settings: Settings | None, history: History) -> None:
    """A group the history does not know can only be looked up in the cloud with a job
    service to ask: without one, say that the group is unknown (and the nearest names),
    not that a project is missing."""
    from .backends import backend_type

    resolved = default_settings(settings)
    service = backend_type(resolved.backend, source=resolved.sources.get("backend"))
    if service.needs_project and not resolved.project_id:
        raise NotFoundError(_unknown_group(
            xgroup, history, "(to look a group submitted elsewhere up by its label, pass "
            "--project_id, or --backend local for the local emulator)"))


def refresh_named(xgroup: str, backend: Backend, history: History,
                  progress: Progress = ignore) -> list[JobRecord]:
    """:func:`refresh_group` for a group the history may not know, naming near misses."""
    try:
        return refresh_group(xgroup, backend, history, progress=progress)
    except NotFoundError as e:
        near = nearest_groups(xgroup, history)
        if not near:
            raise
        raise NotFoundError(f"{e}; recorded groups with a similar name: "
                            f"{', '.join(near)}") from None


def check_count(flag: str, value: Any, least: int = 1) -> None:
    """A count option (``--tail``, ``--max_jobs``...) is a whole number of at least
    ``least``, or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < least):
        raise UsageError(f"{flag} takes a whole number of at least {least}, not {value!r}")


def find_job(job: str, *, xgroup: str | None = None, settings: Settings | None = None,
             backend: Backend | None = None, history: History,
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
    matches = history.find_jobs(job, xgroup=xgroup)
    if not matches and xgroup:
        known = history.group(xgroup)
        if known is None and backend is None:
            check_lookup(xgroup, settings, history)
        be = backend or backend_for_group(known, settings, progress)
        refresh_named(xgroup, be, history, progress)
        matches = history.find_jobs(job, xgroup=xgroup)
    matches = [m for m in matches if m.resource_name]
    if "/customJobs/" in job and not matches:
        return None, backend or backend_for_group(None, settings, progress), job
    if not matches:
        where = f"group {xgroup!r}" if xgroup else str(history.path)
        raise NotFoundError(f"no submitted job named {job!r} in {where}; pass a display name "
                            "or resource name from `caliban status`, and --xgroup for jobs "
                            "submitted from another machine")
    groups = sorted({m.xgroup for m in matches})
    if len({m.resource_name for m in matches}) > 1 and len(groups) > 1:
        raise UsageError(f"{job!r} names jobs in several groups ({', '.join(groups)}); "
                         "pass --xgroup to choose one")
    record = matches[0]
    be = backend or backend_for_group(history.group(record.xgroup), settings, progress)
    return record, be, str(record.resource_name)

"""Following submitted jobs as plain functions: status, stop, resubmit, logs, outputs.

Each one opens the group it is about as a :class:`~caliban_jupyter.service.groups.JobGroup`
(which does the work) and closes what it opened. ``backend``/``history`` are for callers
that hold them; otherwise they come from ``settings`` and, for a recorded group, from
where it was submitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend
from ..errors import BackendError, NotFoundError, UsageError
from ..events import Progress, Warning_, ignore
from ..history import History
from ..records import JobRecord, latest_attempts
from ..settings import Settings
from .groups import JobGroup
from .lookup import backend_for_group, check_count, check_lookup, find_job, refresh_group

if TYPE_CHECKING:
    from ..storage import DownloadReport

__all__ = ["backend_for_group", "find_job", "follow_logs", "group_download", "logs",
           "refresh_group", "resubmit", "status", "stop", "stop_job"]


@contextmanager
def _history(history: History | None) -> Iterator[History]:
    """``history``, or the default one opened for the call and closed after it."""
    if history is not None:
        yield history
        return
    with History() as opened:
        yield opened


def status(xgroup: str | None = None, *, settings: Settings | None = None,
           backend: Backend | None = None, history: History | None = None,
           max_jobs: int | None = None, max_groups: int = 5, refresh: bool = True,
           all_attempts: bool = False, progress: Progress = ignore) -> list[JobRecord]:
    """The jobs of ``xgroup`` (refreshed), or of the latest ``max_groups`` groups.

    Each job once, by its latest attempt (``all_attempts``: every attempt, oldest first
    per index). ``max_jobs`` limits the jobs shown per group. When a refresh fails, the
    recorded states are returned with a warning (they stay refreshable).
    """
    check_count("--max_jobs", max_jobs)
    check_count("--max_groups", max_groups)
    with _history(history) as hist:
        if xgroup:
            if backend is None and hist.group(xgroup) is None:
                check_lookup(xgroup, settings, hist)
            names = [xgroup]
        else:
            names = [g.xgroup for g in hist.latest_groups(max_groups)]
        out: list[JobRecord] = []
        for name in names:
            group = JobGroup(name, backend=backend, history=hist, settings=settings,
                             progress=progress)
            records = _status_of(group, refresh)
            if not all_attempts:
                records = latest_attempts(records)
            out.extend(records[:max_jobs] if max_jobs is not None else records)
        return out


def _status_of(group: JobGroup, refresh: bool) -> list[JobRecord]:
    if not refresh:
        return group.recorded()
    try:
        return group.refresh()  # the history is read once, inside the refresh
    except NotFoundError:
        raise
    except BackendError as e:
        records = group.recorded()
        if not records:
            raise
        group.progress(Warning_(f"could not refresh group {group.xgroup!r} ({e}); showing "
                                "the states last recorded"))
        return records


def stop(xgroup: str | None = None, *, settings: Settings | None = None,
         backend: Backend | None = None, history: History | None = None,
         dry_run: bool = False, confirm: Callable[[list[JobRecord]], bool] | None = None,
         progress: Progress = ignore, indices: Collection[int] | None = None
         ) -> list[JobRecord]:
    """:meth:`JobGroup.stop` of ``xgroup`` (default: the latest group recorded)."""
    with JobGroup.open(xgroup, settings=settings, backend=backend, history=history,
                       progress=progress) as group:
        return group.stop(indices, dry_run=dry_run, confirm=confirm)


def resubmit(xgroup: str, *, settings: Settings | None = None,
             backend: Backend | None = None, history: History | None = None,
             all_jobs: bool = False, dry_run: bool = False, progress: Progress = ignore,
             max_workers: int = 8, rate_per_minute: float | None = None,
             indices: Collection[int] | None = None) -> list[JobRecord]:
    """:meth:`JobGroup.resubmit` of ``xgroup``."""
    if not xgroup:
        raise UsageError("pass --xgroup: the experiment group whose jobs to resubmit")
    with JobGroup.open(xgroup, settings=settings, backend=backend, history=history,
                       progress=progress) as group:
        return group.resubmit(indices, all_jobs=all_jobs, dry_run=dry_run,
                              max_workers=max_workers, rate_per_minute=rate_per_minute)


def logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
         settings: Settings | None = None, backend: Backend | None = None,
         history: History | None = None, progress: Progress = ignore) -> str:
    """The output of ``job`` (a display name, resource name or job id) on the emulator.

    On Vertex the logs live in Cloud Logging; the error raised gives their URL.
    """
    check_count("--tail", tail, least=0)
    group, record, name = JobGroup.of_job(job, xgroup=xgroup, settings=settings,
                                          backend=backend, history=history, progress=progress)
    with group:
        return group.logs(record, tail, name=name)


def stop_job(job: str, *, xgroup: str | None = None, settings: Settings | None = None,
             backend: Backend | None = None, history: History | None = None,
             dry_run: bool = False, progress: Progress = ignore) -> list[JobRecord]:
    """:meth:`JobGroup.stop_job` of the one job ``job`` names (``caliban stop JOB``)."""
    group, record, name = JobGroup.of_job(job, xgroup=xgroup, settings=settings,
                                          backend=backend, history=history, progress=progress)
    with group:
        return group.stop_job(record, name, dry_run=dry_run)


def follow_logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
                settings: Settings | None = None, backend: Backend | None = None,
                history: History | None = None, poll: float = 2.0,
                sleep: Callable[[float], None] | None = None,
                progress: Progress = ignore) -> Generator[str, None, None]:
    """:meth:`JobGroup.follow_logs` of the one job ``job`` names (``caliban logs
    --follow``)."""
    check_count("--tail", tail, least=0)
    group, record, name = JobGroup.of_job(job, xgroup=xgroup, settings=settings,
                                          backend=backend, history=history, progress=progress)
    return _following(group, record, name, tail=tail, poll=poll,
                      sleep=sleep or time.sleep)


def _following(group: JobGroup, record: JobRecord | None, name: str, **kw: Any
               ) -> Generator[str, None, None]:
    with group:  # closed when the caller stops following
        yield from group.follow_logs(record, name, **kw)


def group_download(job: str | None = None, *, xgroup: str | None = None,
                   dest: str | Path | None = None, settings: Settings | None = None,
                   history: Any = None) -> tuple[DownloadReport, Path, list[JobRecord]]:
    """``caliban outputs``: download one job's outputs, or a group's (default: the latest
    group), refreshed from the job service first. Returns the report, the destination
    and the jobs."""
    if job:
        group, record, _ = JobGroup.of_job(job, xgroup=xgroup, settings=settings,
                                           history=history)
        if record is None:
            group.close()
            raise NotFoundError(f"no submitted job named {job!r}" + (
                f" in group {xgroup!r}" if xgroup else "") + "; pass a display name from "
                "`caliban status`")
    else:
        group = JobGroup.open(xgroup, settings=settings, history=history)
    with group:
        records = latest_attempts(_status_of(group, refresh=True))
        if job:
            records = [r for r in records if r.submission_id == record.submission_id] \
                or [record]
        target = Path(dest) if dest else Path("caliban_outputs") / group.xgroup
        report = group.download(str(target), records)
    return report, target, records

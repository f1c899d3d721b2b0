"""Verbs on one job the user names: stop it, follow its log until it ends.

Jobs are found by :func:`~caliban_jupyter.service.track.find_job` (display name, resource name
or job id, like ``caliban logs``). A job's current state comes from one list call filtered
by its submission-id label (never a get per job), and is written to the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

from ..backends.base import Backend
from ..events import Info, Progress, ignore
from ..history import History
from ..records import JobRecord, record_from_custom_job
from ..settings import Settings
from .track import _check_count, find_job

__all__ = ["current", "follow_logs", "stop_job"]


def current(record: JobRecord, backend: Backend, history: History | None) -> JobRecord:
    """``record`` as the service sees it now (recorded in ``history`` when given)."""
    job = backend.find_by_submission_id(record.submission_id)
    if job is None:
        return record
    now = record_from_custom_job(job, backend=backend.name, project=record.project,
                                 url=backend.job_url(str(job.get("name", ""))),
                                 previous=record)
    if history is not None and now != record:
        history.put_job(now)
    return now


def stop_job(job: str, *, xgroup: str | None = None, settings: Settings | None = None,
             backend: Backend | None = None, history: History | None = None,
             dry_run: bool = False, progress: Progress = ignore) -> list[JobRecord]:
    """Cancel the one job ``job`` names (``caliban stop JOB``).

    Returns ``[record]`` of the job asked to stop (with ``dry_run``: that would be), or
    ``[]`` when it had already ended.
    """
    hist = history if history is not None else History()
    record, be, name = find_job(job, xgroup=xgroup, settings=settings, backend=backend,
                                history=hist, progress=progress)
    if record is not None:
        record = current(record, be, hist)
        if record.is_terminal or record.state == "CANCELLING":
            progress(Info(f"job {record.display_name} is already {record.state}: nothing "
                          "to stop"))
            return []
    shown = record.display_name if record is not None else name
    if dry_run:
        return [record] if record is not None else []
    be.cancel(name)
    progress(Info(f"asked job {shown} to stop"))
    if record is None:
        return []
    return [current(record, be, hist)]


def follow_logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
                settings: Settings | None = None, backend: Backend | None = None,
                history: History | None = None, poll: float = 2.0,
                sleep: Callable[[float], None] = time.sleep,
                progress: Progress = ignore) -> Generator[str, None, None]:
    """The output of ``job`` as it grows, until the job ends (``caliban logs --follow``).

    Yields new text each time the log grows (first the last ``tail`` lines, or all of it).
    There is no deadline: it stops when the job is terminal, after yielding the rest of
    its log. Closing the iterator (or Ctrl-C in the caller) stops following; the job keeps
    running.
    """
    _check_count("--tail", tail, least=0)
    hist = history if history is not None else History()
    record, be, name = find_job(job, xgroup=xgroup, settings=settings, backend=backend,
                                history=hist, progress=progress)
    if record is None:
        progress(Info(f"{name} is not in the job history: showing its log once"))
    seen: int | None = None
    while True:
        # The state is read before the log: a job already terminal here has all of its
        # output in the log read next, so nothing is cut off at the end.
        if record is not None:
            record = current(record, be, hist)
        ended = record is None or record.is_terminal
        text = be.logs(name)
        if seen is None:
            seen = _start(text, tail)
        elif len(text) < seen:
            seen = 0  # the log was replaced (a restarted job): show it from the top
        if len(text) > seen:
            yield text[seen:]
            seen = len(text)
        if ended:
            return
        sleep(poll)


def _start(text: str, tail: int | None) -> int:
    """Where the first chunk starts: the beginning, or the last ``tail`` lines."""
    if tail is None:
        return 0
    kept = text.splitlines(keepends=True)[-tail:] if tail else []
    return len(text) - sum(len(line) for line in kept)

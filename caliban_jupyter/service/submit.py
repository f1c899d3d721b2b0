"""Submitting a sweep: concurrent, rate limited, retried, and exactly once.

Exactly once
    Every job carries a fresh submission id as a label (:data:`~caliban_jupyter.records.SID_LABEL`).
    When a create fails ambiguously (a 5xx, a timeout, a connection dropped after the request
    was sent) the job may exist anyway, so before trying again the submitter lists jobs by
    that label and adopts the job it finds. A 429 is never ambiguous: nothing was created.
    After the sweep, one listing of the group (one call per page) checks that each
    submission id appears exactly once, adopting jobs created behind a failure report and
    cancelling any duplicate that slipped through (a create still in flight on the server
    while we looked for it).

No record lost
    Each job is written to the history as ``NOT_SUBMITTED`` before it is created, then
    updated; an interrupted sweep leaves records that ``caliban resubmit`` completes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..backends.base import Backend, RetryPolicy, TransientBackendError
from ..errors import BackendError, LabelError, SubmissionError, UsageError
from ..events import JobFailedToSubmit, JobSubmitted, Progress, Warning_, ignore
from ..history import History
from ..records import (
    INDEX_LABEL,
    SID_LABEL,
    XGROUP_LABEL,
    JobRecord,
    record_for_spec,
    record_from_custom_job,
)
from ..spec.jobs import JobSpec
from ..spec.labels import MAX_LABELS

PENDING_REASON = "submission did not finish (interrupted?); `caliban resubmit` completes it"
#: The reason of the jobs a Ctrl-C kept from being created: unlike PENDING_REASON (a create
#: under way, as far as other processes reading the history can tell), the submission ended.
INTERRUPTED_REASON = "submission interrupted before this job was created; `caliban resubmit` " \
    "completes it"


def new_submission_id() -> str:
    """A unique, label-safe id (32 lowercase hex digits)."""
    return uuid.uuid4().hex


class TokenBucket:
    """At most ``rate_per_minute`` acquisitions a minute, with bursts up to ``burst``.

    Callers reserve a token and sleep outside the lock until it is due, so waiting threads
    are served in arrival order without holding anything.
    """

    def __init__(self, rate_per_minute: float, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        # Default burst: one second's worth, at least one job.
        self.capacity = float(burst) if burst is not None else max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the time slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def check_rate(rate_per_minute: float | None) -> None:
    """Refuse a rate that could never let a job through (before anything is recorded)."""
    if rate_per_minute is not None and not rate_per_minute > 0:
        raise UsageError(f"--rate_per_minute {rate_per_minute}: give a positive number of "
                         "job creations a minute, or leave it out for no limit")


class RegionLimiter:
    """One :class:`TokenBucket` per region (Vertex quotas are per region); no-op if None."""

    def __init__(self, rate_per_minute: float | None, **bucket_options: Any):
        check_rate(rate_per_minute)
        self.rate_per_minute = rate_per_minute
        self._options = bucket_options
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, region: str) -> None:
        if self.rate_per_minute is None:
            return
        with self._lock:
            bucket = self._buckets.get(region)
            if bucket is None:
                bucket = self._buckets[region] = TokenBucket(self.rate_per_minute,
                                                             **self._options)
        bucket.acquire()


class SweepSubmissionError(SubmissionError):
    """Some jobs were not submitted; ``records`` holds every job of the sweep."""

    def __init__(self, message: str, records: list[JobRecord]):
        super().__init__(message)
        self.records = records


@dataclass(frozen=True)
class _Outcome:
    job: dict[str, Any] | None
    reason: str | None = None


def _submit_one(body: dict[str, Any], sid: str, region: str, backend: Backend,
                limiter: RegionLimiter, policy: RetryPolicy) -> _Outcome:
    """Create one job, retrying transient failures; never creates it twice knowingly."""
    ambiguous = False
    last: BackendError | None = None
    for attempt in range(policy.max_attempts):
        if attempt:
            policy.backoff(attempt - 1)
        try:
            if ambiguous:
                found = backend.find_by_submission_id(sid)
                if found is not None:
                    return _Outcome(found)
                ambiguous = False  # confirmed absent: creating again is safe
            limiter.acquire(region)
            return _Outcome(backend.create(body))
        except TransientBackendError as e:
            ambiguous = ambiguous or e.ambiguous
            last = e
        except BackendError as e:
            return _Outcome(None, str(e))
    if ambiguous:
        # One last look: the final ambiguous attempt may have created it.
        try:
            found = backend.find_by_submission_id(sid)
        except BackendError as e:
            return _Outcome(None, f"{last}; and could not check whether it was created ({e}); "
                                  "`caliban status` will show it if it was")
        if found is not None:
            return _Outcome(found)
    return _Outcome(None, f"gave up after {policy.max_attempts} attempts: {last}")


def _record_outcome(record: JobRecord, outcome: _Outcome, backend: Backend) -> JobRecord:
    """``record`` updated with the outcome of its create."""
    if outcome.job is None:
        return record.evolve(error=outcome.reason)
    url = backend.job_url(str(outcome.job.get("name", "")))
    return record_from_custom_job(outcome.job, backend=backend.name, project=backend.project,
                                  url=url, previous=record)


def prepare_specs(specs: Sequence[JobSpec], xgroup: str
                  ) -> list[tuple[JobSpec, str, dict[str, Any]]]:
    """Each spec with the group/index labels it needs, its fresh submission id and its
    CustomJob body (built once: the record keeps the very body that is sent)."""
    out = []
    for spec in specs:
        sid = new_submission_id()
        extra = {SID_LABEL: sid, INDEX_LABEL: str(spec.index)}
        if XGROUP_LABEL not in spec.labels:
            extra[XGROUP_LABEL] = xgroup
        labelled = spec.with_labels(extra)
        if len(labelled.labels) > MAX_LABELS:
            raise LabelError(
                f"job {spec.display_name!r} would carry {len(labelled.labels)} labels but "
                f"Vertex AI allows {MAX_LABELS}, and caliban needs 2 of them ({SID_LABEL}, "
                f"{INDEX_LABEL}) to track jobs: pass fewer --label options, or fewer flags "
                "in the experiment config")
        out.append((labelled, sid, labelled.to_custom_job()))
    return out


def sweep_region(specs: Sequence[JobSpec], default: str) -> str:
    """The region recorded for a group: its jobs' region (comma-joined when several)."""
    regions = sorted({spec.region for spec in specs} or {default})
    return ",".join(regions)


def submit_sweep(
    specs: Sequence[JobSpec],
    backend: Backend,
    history: History,
    *,
    xgroup: str,
    progress: Progress = ignore,
    max_workers: int = 32,
    rate_per_minute: float | None = None,
    retry: RetryPolicy | None = None,
    verify: bool = True,
) -> list[JobRecord]:
    """Submit every spec as a job of group ``xgroup``; return their records in spec order.

    Parameters
    ----------
    specs
        The jobs, fully decided (image pushed, labels set).
    backend, history
        Where jobs go and where they are recorded.
    max_workers
        Concurrent create calls. Each spends most of its time waiting on the service (a
        round trip of tens of ms to Vertex), so many overlap on one core; quotas are kept
        by ``rate_per_minute`` and the retry of 429s, not by this.
    rate_per_minute
        Creates allowed per minute per region (``None``: unlimited; 429s are retried).
    retry
        Backoff for transient failures (default: 8 attempts from 0.5 s, full jitter).
    verify
        After the sweep, list the group once to adopt jobs created behind a reported
        failure and cancel duplicates.

    Raises
    ------
    SweepSubmissionError
        When some jobs were not submitted (their records say why; the others were).
    """
    policy = retry or RetryPolicy()
    limiter = RegionLimiter(rate_per_minute)
    prepared = prepare_specs(specs, xgroup)
    total = len(prepared)
    history.add_group(xgroup, backend=backend.name, project=backend.project,
                      region=sweep_region(specs, backend.region))
    history.add_experiments(xgroup, [(s.index, s.args, s.experiment) for s, _, _ in prepared])
    records = [record_for_spec(spec, submission_id=sid, xgroup=xgroup, backend=backend.name,
                               project=backend.project, error=PENDING_REASON, body=body)
               for spec, sid, body in prepared]
    history.put_jobs(records)

    def finish(done: set[Future[_Outcome]]) -> None:
        # Recorded before they are reported: a progress callback interrupted (Ctrl-C) must
        # not leave a created job recorded as NOT_SUBMITTED. The creates that finished
        # together are recorded in one transaction (one per create held the caller's
        # thread, and so the submitting threads, longer than the creates did).
        outcomes = sorted((futures[f], f.result()) for f in done)
        updated = [_record_outcome(records[pos], outcome, backend) for pos, outcome in outcomes]
        history.put_jobs(updated)
        for (pos, _), record in zip(outcomes, updated, strict=True):
            records[pos] = record
        finished.update(done)
        for (pos, outcome), record in zip(outcomes, updated, strict=True):
            if outcome.job is not None:
                progress(JobSubmitted(pos + 1, total, record.display_name,
                                      record.resource_name or "", record.url or ""))
            else:
                progress(JobFailedToSubmit(pos + 1, total, record.display_name,
                                           outcome.reason or "unknown"))

    executor = ThreadPoolExecutor(max_workers=max(1, max_workers),
                                  thread_name_prefix="caliban-submit")
    futures: dict[Future[_Outcome], int] = {}
    finished: set[Future[_Outcome]] = set()
    try:
        for pos, (spec, sid, body) in enumerate(prepared):
            futures[executor.submit(_submit_one, body, sid, spec.region,
                                    backend, limiter, policy)] = pos
        # Events and history writes happen here, on the caller's thread, so progress
        # callbacks (widgets, tqdm) never run concurrently.
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            finish(done)
    except KeyboardInterrupt:
        # Creates already sent finish (their jobs exist), the others never start: record
        # what was created, so the history matches the cloud and resubmit completes it.
        executor.shutdown(wait=True, cancel_futures=True)
        for future, pos in futures.items():
            if future not in finished and future.done() and not future.cancelled() \
                    and future.exception() is None:
                records[pos] = _record_outcome(records[pos], future.result(), backend)
        records = [r.evolve(error=INTERRUPTED_REASON) if r.error == PENDING_REASON else r
                   for r in records]
        history.put_jobs(records)
        done = sum(r.is_submitted for r in records)
        progress(Warning_(f"interrupted: {done} of {total} jobs of group {xgroup!r} were "
                          f"submitted; run `caliban resubmit --xgroup {xgroup}` to submit "
                          "the others"))
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)

    if verify and total:
        records = _verify(records, backend, history, xgroup, progress)
    failed = [r for r in records if not r.is_submitted]
    if failed:
        reasons = sorted({r.error or "unknown" for r in failed})
        raise SweepSubmissionError(
            f"{len(failed)} of {total} jobs of group {xgroup!r} were not submitted "
            f"({reasons[0]}{'; ...' if len(reasons) > 1 else ''}); run "
            f"`caliban resubmit --xgroup {xgroup}` to submit them", records)
    return records


def _verify(records: list[JobRecord], backend: Backend, history: History, xgroup: str,
            progress: Progress) -> list[JobRecord]:
    """Reconcile the sweep with one listing of its group (see the module docstring)."""
    from .lookup import list_by_submission, the_job

    by_sid = {r.submission_id: i for i, r in enumerate(records)}
    try:
        seen = {sid: jobs for sid, jobs in list_by_submission(backend, xgroup).items()
                if sid in by_sid}
    except BackendError as e:
        progress(Warning_(f"could not verify group {xgroup!r} after submitting ({e}); "
                          f"`caliban status --xgroup {xgroup}` checks it later"))
        return records
    out = list(records)
    for sid, jobs in seen.items():
        pos = by_sid[sid]
        record = out[pos]
        keep = the_job(jobs, record)
        for extra in jobs:
            if extra is keep:
                continue
            name = str(extra.get("name"))
            try:
                backend.cancel(name)
                progress(Warning_(f"cancelled duplicate job {name} of {record.display_name}"))
            except BackendError as e:
                progress(Warning_(f"duplicate job {name} of {record.display_name} could not "
                                  f"be cancelled ({e}); cancel it with `caliban stop`"))
        if not record.is_submitted or record.resource_name != keep.get("name"):
            url = backend.job_url(str(keep.get("name", "")))
            adopted = record_from_custom_job(keep, backend=backend.name,
                                            project=backend.project, url=url,
                                             previous=record)
            out[pos] = adopted
            history.put_job(adopted)
            if not record.is_submitted:
                progress(JobSubmitted(pos + 1, len(out), adopted.display_name,
                                      adopted.resource_name or "", url))
    return out

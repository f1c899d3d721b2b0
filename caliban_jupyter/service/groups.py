"""JobGroup: the one handle on a submitted experiment group.

Every front end follows a group through it: ``caliban status/stop/resubmit/logs``, the
notebook's :class:`~caliban_jupyter.notebook.sweep.Sweep`, the live job table and the
Jupyter server's REST API. It is the only place that refreshes a group, waits for it,
stops, resubmits and reads logs.

A group owns the backend it builds (from the group's recorded backend, project and region
unless a flag says otherwise) and the history connection it opens (closed by
:meth:`JobGroup.close`, by ``with``, or when the group is garbage collected). A history
passed in belongs to the caller and is never closed here.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, NotFoundError
from ..events import Info, Progress, Warning_, ignore
from ..records import (
    JobRecord,
    latest_attempts,
    record_for_spec,
    record_from_custom_job,
    retry_specs,
    state_counts,
    state_summary,
)
from . import lookup

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..history import History
    from ..settings import Settings

__all__ = ["PHASES", "BackendClients", "JobGroup"]

#: A submission's phases, in order: planned, building (an image) or uploading (a code
#: package), submitting (creating the jobs), then submitted or failed.
PHASES = ("planned", "building", "uploading", "submitting", "submitted", "failed")

JobRef = JobRecord | int | str


class JobGroup:
    """One submitted experiment group: its backend, its history connection, its verbs.

    Parameters
    ----------
    xgroup
        The experiment group (its jobs carry the label ``xgroup=...``).
    backend
        A backend, a function building one, or None: built on first use from where the
        group was recorded (and ``settings``).
    history
        The history to read and write; default: ``$CALIBAN_HOME``'s, opened on first use
        and owned by the group.
    settings
        The resolved settings (flags win over where the group was recorded).
    records
        The group's records as last seen (every attempt), if the caller has them.
    progress
        Where state changes, warnings and notes go.
    """

    #: Where a submission made through this handle stands (see :data:`PHASES`); None for
    #: a group that was looked up rather than submitted here.
    phase: str | None = None
    #: Why the submission failed (``phase == "failed"``).
    error: str | None = None

    def __init__(self, xgroup: str, *, backend: Backend | Callable[[], Backend] | None = None,
                 history: History | None = None, settings: Settings | None = None,
                 records: Iterable[JobRecord] = (), progress: Progress = ignore) -> None:
        self.xgroup = xgroup
        self.progress = progress
        self._backend = backend
        self._history = history
        self._given_settings = settings
        self._settings: Settings | None = None
        self._attempts = list(records)
        self._lock = threading.Lock()
        self._close = None  # finalizer of a history this group opened
        self.refreshes = 0  # listings made (for tests and the benchmarks)

    # -- finding groups ----------------------------------------------------------------

    @classmethod
    def planned(cls, xgroup: str, settings: Settings, *, progress: Progress = ignore
                ) -> JobGroup:
        """The handle of a submission about to start (phase ``planned``): what
        :func:`~caliban_jupyter.service.submission.submit` hands back, from before the
        build to the submitted jobs."""
        group = cls(xgroup, settings=settings, progress=progress)
        group.phase = "planned"
        return group

    def advance(self, phase: str, *, error: str | None = None,
                records: Sequence[JobRecord] | None = None) -> None:
        """Move a submission to ``phase``; ``records`` are its jobs as recorded (their
        group is the one submitted to: a default name may have gained a suffix)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
        with self._lock:
            self.phase, self.error = phase, error
            if records:
                self.xgroup = records[0].xgroup
                self._attempts = list(records)

    @classmethod
    def open(cls, xgroup: str | None = None, **kwargs: Any) -> JobGroup:
        """The group ``xgroup``, or with None the newest one recorded on this machine.

        A name the history does not know is looked up in the cloud by its label on the
        first refresh; raises :class:`NotFoundError` at once when there is no job service
        to ask (naming the recorded groups it resembles).
        """
        group = cls(xgroup or "", **kwargs)
        try:
            if not xgroup:
                group.xgroup = lookup.latest_group(group.history).xgroup
            elif group._backend is None and group.history.group(xgroup) is None:
                lookup.check_lookup(xgroup, group._given_settings, group.history)
        except BaseException:
            group.close()
            raise
        return group

    @classmethod
    def of_job(cls, job: str, *, xgroup: str | None = None, **kwargs: Any
               ) -> tuple[JobGroup, JobRecord | None, str]:
        """The group of the job ``job`` names (display name, resource name or job id), the
        job's record (None for a resource name the history does not know) and its
        resource name."""
        group = cls(xgroup or "", **kwargs)
        try:
            record, backend, name = lookup.find_job(
                job, xgroup=xgroup, settings=group._given_settings, backend=group._backend,
                history=group.history, progress=group.progress)
        except BaseException:
            group.close()
            raise
        group._backend = backend
        if record is not None:
            group.xgroup = record.xgroup
        return group, record, name

    # -- what it holds -----------------------------------------------------------------

    @property
    def history(self) -> History:
        if self._history is None:
            from ..history import History

            self._history = History()
            self._close = weakref.finalize(self, self._history.close)
        return self._history

    @property
    def settings(self) -> Settings:
        """Where the group lives: recorded backend, project and region, unless flagged."""
        if self._settings is None:
            self._settings = lookup.settings_for_group(self.history.group(self.xgroup),
                                                       self._given_settings)
        return self._settings

    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                from ..backends import get_backend

                self._backend = get_backend(self.settings, progress=self.progress)
            elif callable(self._backend) and not hasattr(self._backend, "list_group"):
                self._backend = self._backend()
            return self._backend  # type: ignore[return-value]

    @property
    def attempts(self) -> list[JobRecord]:
        """Every record as last seen, earlier attempts of resubmitted jobs included
        (oldest first per index)."""
        return list(self._attempts)

    @property
    def records(self) -> list[JobRecord]:
        """Each job once, by its latest attempt."""
        return latest_attempts(self._attempts)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (each job once)."""
        return state_counts(self.records)

    def summary(self) -> str:
        """``2 RUNNING, 1 SUCCEEDED``: the counts in one line."""
        return state_summary(self.records)

    @property
    def done(self) -> bool:
        """True once every job is terminal (or was never submitted)."""
        return all(r.is_terminal or not r.is_submitted for r in self.records)

    def experiments(self) -> dict[int, Mapping[str, Any]]:
        """Each job's experiment parameters, by index."""
        return {e["index"]: e["config"] for e in self.history.experiments(self.xgroup)}

    # -- reading the service -----------------------------------------------------------

    def refresh(self) -> list[JobRecord]:
        """Every job's current state from one listing (recorded in the history); returns
        every attempt, oldest first per index."""
        self.refreshes += 1
        records = lookup.refresh_named(self.xgroup, self.backend, self.history,
                                       self.progress)
        self._attempts = list(records)
        return records

    def recorded(self) -> list[JobRecord]:
        """The group's records as the history has them (no listing)."""
        self._attempts = self.history.jobs(self.xgroup)
        return list(self._attempts)

    def wait(self, timeout: float | None = None, *, poll: float = 2.0,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> list[JobRecord]:
        """Refresh until every job is terminal; returns the jobs (each once).

        Raises
        ------
        TimeoutError
            When ``timeout`` seconds pass first (the jobs keep running).
        """
        deadline = None if timeout is None else clock() + timeout
        while True:
            self.refresh()
            if self.done:
                return self.records
            now = clock()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"experiment group {self.xgroup}: not finished after "
                                   f"{timeout} s ({self.summary()})")
            sleep(poll if deadline is None else min(poll, max(0.0, deadline - now)))

    def current(self, record: JobRecord) -> JobRecord:
        """One job as the service sees it now (one list call by its submission id),
        recorded in the history. A tuning job is read by its name (one get): CustomJobs
        carrying its submission id are its trials'."""
        if record.is_tuning and record.resource_name:
            from ..records import refresh_tuning

            now = refresh_tuning(record, self.backend)
            if now != record:
                self.history.put_job(now)
            return now
        job = self.backend.find_by_submission_id(record.submission_id)
        if job is None:
            return record
        now = record_from_custom_job(job, backend=self.backend.name, project=record.project,
                                     url=self.backend.job_url(str(job.get("name", ""))),
                                     previous=record)
        if now != record:
            self.history.put_job(now)
        return now

    def _chosen(self, jobs: Collection[JobRef] | None) -> set[int] | None:
        """The indices ``jobs`` names (records, indices or display names)."""
        if jobs is None:
            return None
        out = set()
        for job in jobs:
            out.add(self._record(job).index if not isinstance(job, int) else job)
        return out

    def _record(self, job: JobRef) -> JobRecord:
        if isinstance(job, JobRecord):
            return job
        records = self._attempts or self.recorded()
        for record in reversed(records):
            if job in (record.index, record.display_name, record.resource_name):
                return record
        raise NotFoundError(f"no job {job!r} in experiment group {self.xgroup!r}; pass a "
                            "display name from `caliban status`")

    # -- verbs -------------------------------------------------------------------------

    def stop(self, jobs: Collection[JobRef] | None = None, *, dry_run: bool = False,
             confirm: Callable[[list[JobRecord]], bool] | None = None) -> list[JobRecord]:
        """Cancel the running (non-terminal) jobs, or only the running attempts of
        ``jobs`` (records, indices or display names).

        ``confirm`` gets the jobs about to stop (it decides whether to ask); a False answer
        stops nothing. Returns the jobs stopped (or, with ``dry_run``, the ones that would
        be). Refreshes before and after.
        """
        indices = self._chosen(jobs)
        records = self.refresh()
        targets = [r for r in records if r.is_submitted and not r.is_terminal
                   and r.state != "CANCELLING" and r.resource_name
                   and (indices is None or r.index in indices)]
        if not targets:
            self.progress(Info(f"no running jobs in group {self.xgroup!r}"))
            return []
        if dry_run:
            return targets
        if confirm is not None and not confirm(targets):
            self.progress(Info("nothing stopped"))
            return []
        errors: list[str] = []
        backend = self.backend

        def cancel(record: JobRecord) -> None:
            try:
                backend.cancel(str(record.resource_name))
            except BackendError as e:
                errors.append(f"{record.display_name}: {e}")

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="caliban-stop") as pool:
            list(pool.map(cancel, targets))
        try:
            self.refresh()
        except BackendError as e:
            self.progress(Warning_(f"stopped, but could not refresh group {self.xgroup!r}: "
                                   f"{e}"))
        if errors:
            raise BackendError(f"could not stop {len(errors)} of {len(targets)} jobs "
                               f"({errors[0]}); run `caliban stop --xgroup {self.xgroup}` "
                               "again")
        self.progress(Info(f"asked {len(targets)} job(s) of group {self.xgroup!r} to stop"))
        return targets

    def stop_job(self, record: JobRecord | None, name: str, *, dry_run: bool = False
                 ) -> list[JobRecord]:
        """Cancel one job (``caliban stop JOB``; ``record`` None for a job the history
        does not know). Returns ``[record]`` of the job asked to stop (with ``dry_run``:
        that would be), or ``[]`` when it had already ended."""
        if record is not None:
            record = self.current(record)
            if record.is_terminal or record.state == "CANCELLING":
                self.progress(Info(f"job {record.display_name} is already {record.state}: "
                                   "nothing to stop"))
                return []
        if dry_run:
            return [record] if record is not None else []
        self.backend.cancel(name)
        self.progress(Info(f"asked job {record.display_name if record else name} to stop"))
        return [] if record is None else [self.current(record)]

    def resubmit(self, jobs: Collection[JobRef] | None = None, *, all_jobs: bool = False,
                 dry_run: bool = False, max_workers: int = 8,
                 rate_per_minute: float | None = None) -> list[JobRecord]:
        """Submit again the jobs that FAILED, were CANCELLED or NOT_SUBMITTED (every job
        with ``all_jobs``; exactly ``jobs`` when given, whatever their state), with the
        image they ran: no rebuild.

        Only the latest attempt of each job counts, so running it twice does not resubmit
        what the first run already did. New jobs get new display names and submission ids
        and stay in the group. Returns the new records (not submitted with ``dry_run``).
        """
        from .submit import check_rate, submit_sweep

        check_rate(rate_per_minute)
        indices = self._chosen(jobs)
        # The refresh also adopts NOT_SUBMITTED jobs that were in fact created.
        records = self.refresh()
        if any(r.is_tuning for r in records):
            from ..errors import UsageError

            raise UsageError(f"group {self.xgroup!r} is a hyperparameter search (--tune): "
                             "resubmitting one is not supported; submit the search again "
                             "(a new group)")
        chosen, specs = retry_specs(records, self.experiments(), indices=indices,
                                    all_jobs=all_jobs)
        if not chosen:
            self.progress(Info(f"nothing to resubmit in group {self.xgroup!r}: no FAILED, "
                               "CANCELLED or NOT_SUBMITTED jobs (pass --all_jobs to "
                               "resubmit every job)"))
            return []
        backend = self.backend
        if dry_run:
            return [record_for_spec(s, submission_id="", xgroup=self.xgroup,
                                    backend=backend.name, project=backend.project,
                                    error="dry run: not submitted") for s in specs]
        from .build import restage

        # Jobs of a code package whose upload failed: upload it again from the local cache.
        restage(specs, project=backend.project, cloud_key=self.settings.cloud_key,
                progress=self.progress)
        superseded = [r.evolve(error=f"{r.error or 'not submitted'}; resubmitted")
                      for r in chosen if not r.is_submitted]
        self.history.put_jobs(superseded)
        new = submit_sweep(specs, backend, self.history, xgroup=self.xgroup,
                           progress=self.progress, max_workers=max_workers,
                           rate_per_minute=rate_per_minute)
        self.recorded()
        return new

    def logs(self, job: JobRef | None, tail: int | None = None, *, name: str | None = None
             ) -> str:
        """The output of one job so far (the local emulator; on Vertex the error gives
        the Cloud Logging URL). ``job`` None: a job the history does not know, by its
        resource ``name``."""
        lookup.check_count("--tail", tail, least=0)
        if job is None:
            if not name:
                raise NotFoundError("name the job whose logs to show")
            return self.backend.logs(name, tail=tail)
        return self.backend.logs(self._resource(self._record(job)), tail=tail)

    def follow_logs(self, record: JobRecord | None, name: str, *, tail: int | None = None,
                    poll: float = 2.0, sleep: Callable[[float], None] = time.sleep
                    ) -> Generator[str, None, None]:
        """The output of one job as it grows, until the job ends (no deadline; closing
        the iterator stops following, the job keeps running). ``record`` None: a job the
        history does not know, whose log is shown once."""
        from .follow import follow

        lookup.check_count("--tail", tail, least=0)
        if record is None:
            self.progress(Info(f"{name} is not in the job history: showing its log once"))
        state = [record]

        def ended() -> bool:
            if state[0] is None:
                return True
            state[0] = self.current(state[0])
            return state[0].is_terminal

        return follow(ended, lambda: self.backend.logs(name), tail=tail, poll=poll,
                      sleep=sleep)

    @staticmethod
    def _resource(record: JobRecord) -> str:
        if not record.resource_name:
            raise NotFoundError(f"{record.display_name} was never submitted "
                                f"({record.error or 'no resource name'}): it has no logs")
        return record.resource_name

    # -- outputs -----------------------------------------------------------------------

    @property
    def locator(self) -> Any:
        """Finds the jobs' output locations (Cloud Storage or the emulator's directory)."""
        if getattr(self, "_locator", None) is None:
            from .outputs import Locator

            self._locator = Locator(self.settings)
        return self._locator

    def results(self, *, workers: int | None = None) -> list[dict[str, Any]]:
        """One row per job (as last seen): its parameters, saved values, state, error."""
        from ..storage import WORKERS
        from .outputs import results

        tuning = [r for r in self.records if r.is_tuning]
        if tuning:  # a search: one row per trial (service/tuning.py)
            from .tuning import tuning_results

            return tuning_results(tuning, self.locator,
                                  workers=WORKERS if workers is None else workers)
        return results(self.records, self.locator, configs=self.experiments(),
                       workers=WORKERS if workers is None else workers)

    def download(self, dest: str | None = None, jobs: Sequence[JobRecord] | None = None
                 ) -> Any:
        """Copy what the jobs wrote to ``dest`` (default ``caliban_outputs/XGROUP``)."""
        from .outputs import download

        return download(self.records if jobs is None else jobs,
                        dest or f"caliban_outputs/{self.xgroup}", self.locator)

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the history connection if this group opened it."""
        if self._close is not None:
            self._close()
            self._close = None
            self._history = None

    def __enter__(self) -> JobGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<JobGroup {self.xgroup}: {len(self.records)} jobs ({self.summary()})>"


class BackendClients:
    """One connected backend per (service, project, region), built on first use: a
    process that follows many groups (the Jupyter server's refresher) connects once per
    service, not once per group."""

    def __init__(self) -> None:
        import threading

        self._clients: dict[tuple[str, str, str], Backend] = {}
        self._lock = threading.Lock()

    def group(self, history: History, xgroup: str, settings: Settings | None) -> JobGroup:
        """A :class:`JobGroup` of the recorded group ``xgroup`` on this cache's client of
        its service."""
        record = history.require_group(xgroup)
        key = (record.backend, record.project, record.region)
        with self._lock:
            backend = self._clients.get(key)
        if backend is None:
            backend = lookup.backend_for_group(record, settings)
            with self._lock:
                backend = self._clients.setdefault(key, backend)
        return JobGroup(xgroup, backend=backend, history=history, settings=settings)

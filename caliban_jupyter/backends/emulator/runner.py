"""Runs queued jobs: at most ``max_running`` at once, each as a container (or simulated).

Life of a job: QUEUED → PENDING (image pulled, container created) → RUNNING → SUCCEEDED or
FAILED by the container's exit status; a cancel moves it to CANCELLING, stops the
container, then CANCELLED. The log streams to ``logs/ID.log`` while the job runs and the
container is removed once its log is saved.

On start, jobs left PENDING/RUNNING/CANCELLING by a previous emulator are picked up again:
their containers are found by label and followed to the end; a container that vanished
fails its job with a message saying so.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import containers, python_package
from .rpc import TERMINAL_STATES, ApiError
from .store import ACTIVE_STATES, Job, JobStore

if TYPE_CHECKING:
    from docker.models.containers import Container

MODES = ("docker", "simulate", "none")
QUEUED, PENDING, RUNNING = "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"
CANCELLING, CANCELLED = "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"
SUCCEEDED, FAILED = "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"
# google.rpc.Code carried by a failed job's ``error``: Vertex reports a replica's non-zero
# exit as INVALID_ARGUMENT (3) and its own trouble as INTERNAL (13).
USER_CODE_FAILED, EMULATOR_FAILED = 3, 13


@dataclass(frozen=True)
class RunnerConfig:
    """How jobs are executed.

    Attributes
    ----------
    mode
        ``docker`` runs each job's container; ``simulate`` walks jobs through their
        states without Docker, each "running" ``simulate_seconds``; ``none`` never starts
        a job (they stay QUEUED: for benchmarks of large submissions).
    max_running
        Jobs PENDING or RUNNING at once; the rest wait QUEUED.
    network
        Docker network mode of job containers: ``none`` (default) or ``host``.
    stop_grace_seconds
        Seconds between SIGTERM and SIGKILL when a job is cancelled.
    """

    mode: str = "docker"
    max_running: int = 4
    network: str = "none"
    simulate_seconds: float = 1.0
    stop_grace_seconds: int = 5


def _exit_message(code: int, url: str) -> str:
    why = " (killed: out of memory, or SIGKILL)" if code == 137 else ""
    return (f"The replica workerpool0-0 exited with a non-zero status of {code}{why}. "
            f"See the job's log: {url}")


class Runner:
    """Executes the store's queued jobs in background threads.

    Parameters
    ----------
    store
        Where jobs and logs live.
    config
        Execution options.
    job_url
        ``job_id -> URL`` of the job's page, quoted in failure messages.
    """

    def __init__(self, store: JobStore, config: RunnerConfig,
                 job_url: Callable[[int], str]) -> None:
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.store = store
        self.config = config
        self.job_url = job_url
        self._client: Any = None
        self._lock = threading.Lock()
        self._workers: dict[int, threading.Thread] = {}
        self._simulated: dict[int, threading.Event] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._loop_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to Docker (docker mode), recover unfinished jobs, start scheduling."""
        if self.config.mode == "docker":
            self._client = containers.connect()
            self._recover()
        elif self.config.mode == "simulate":
            for job in self.store.list(states=ACTIVE_STATES):
                if not job.container_id:
                    self.store.transition(job.id, QUEUED, only_from=[job.state],
                                          start_time=None)
        self._loop_thread = threading.Thread(target=self._loop, name="emulator-scheduler",
                                             daemon=True)
        self._loop_thread.start()

    def shutdown(self) -> None:
        """Stop scheduling. Containers keep running: a restarted emulator re-attaches."""
        self._stopping.set()
        self._wake.set()
        for event in list(self._simulated.values()):
            event.set()
        if self._loop_thread:
            self._loop_thread.join(timeout=10)

    def wake(self) -> None:
        """A job was queued or a slot freed: schedule now rather than at the next tick."""
        self._wake.set()

    def active(self) -> int:
        with self._lock:
            return sum(t.is_alive() for t in self._workers.values())

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self.config.mode != "none" and not self._stopping.is_set():
                self._fill()

    def _fill(self) -> None:
        with self._lock:
            self._workers = {k: t for k, t in self._workers.items() if t.is_alive()}
            free = self.config.max_running - len(self._workers)
        if free <= 0:
            return
        for job in self.store.list(states=[QUEUED], newest_first=False, limit=free):
            claimed = self.store.transition(job.id, PENDING, only_from=[QUEUED])
            if claimed:
                target = self._simulate if self.config.mode == "simulate" else self._run
                self._spawn(claimed.id, target, claimed)

    def _spawn(self, job_id: int, target: Callable[..., None], *args: Any) -> None:
        def body() -> None:
            try:
                target(*args)
            except sqlite3.ProgrammingError:
                # The emulator stopped (and closed its store) under a job in progress:
                # the next emulator resumes it from the state on disk.
                if not self._stopping.is_set():
                    raise
            finally:
                self._wake.set()

        thread = threading.Thread(target=body, name=f"emulator-job-{job_id}", daemon=True)
        with self._lock:
            self._workers[job_id] = thread
        thread.start()

    # -- cancel ---------------------------------------------------------------------------

    def cancel(self, job_id: int) -> None:
        """Start cancelling a job, as ``customJobs.cancel`` does (asynchronously).

        Raises
        ------
        ApiError
            NOT_FOUND for an unknown job, FAILED_PRECONDITION for a finished one.
        """
        for _ in range(5):  # the job may move between our read and our write: retry
            job = self.store.get(job_id)
            if job is None:
                raise ApiError("NOT_FOUND", f"CustomJob {job_id} does not exist.")
            if job.state in TERMINAL_STATES:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"CustomJob {job.name} is already in state {job.state} and cannot be "
                    "cancelled.",
                )
            if job.state == CANCELLING:
                return
            if job.state == QUEUED:
                if self.store.transition(job_id, CANCELLED, only_from=[QUEUED],
                                         end_time=True):
                    return
                continue
            if self.store.transition(job_id, CANCELLING, only_from=[job.state]):
                self._interrupt(job_id)
                return
        raise ApiError("ABORTED", f"CustomJob {job_id} kept changing state; retry the cancel.")

    def _interrupt(self, job_id: int) -> None:
        event = self._simulated.get(job_id)
        if event is not None:
            event.set()
            return
        job = self.store.get(job_id)
        if self._client is None or job is None or not job.container_id:
            return  # not started yet: the worker sees CANCELLING before it starts one
        cid, grace = job.container_id, self.config.stop_grace_seconds

        def stop() -> None:
            import docker.errors

            try:
                containers.stop(self._client.containers.get(cid), grace)
            except docker.errors.NotFound:
                pass

        threading.Thread(target=stop, name=f"emulator-stop-{job_id}", daemon=True).start()

    # -- one job --------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        import docker.errors
        import requests.exceptions

        container = None
        try:
            containers.ensure_image(self._client,
                                    python_package.container_spec(job.pool)["imageUri"])
            packages = python_package.fetch_all(job.pool, self.store.state_dir / "packages")
            if self._stopping.is_set() or self._cancelled_early(job.id):
                return
            container = self._create(job, packages)
            if not self.store.transition(job.id, PENDING, only_from=[PENDING],
                                         container_id=container.id):
                containers.remove(container)
                self._cancelled_early(job.id)
                return
            container.start()
            if not self.store.transition(job.id, RUNNING, only_from=[PENDING],
                                         start_time=True):
                containers.stop(container, self.config.stop_grace_seconds)
            self._follow(job.id, container)
        except containers.ImageUnavailable as e:
            self._fail(job.id, str(e), EMULATOR_FAILED)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            if container is not None and not self._stopping.is_set():
                containers.remove(container)
            self._fail(job.id, f"Docker could not run the job's container: {e}",
                       EMULATOR_FAILED)

    def _create(self, job: Job, packages: Sequence[Path] = ()) -> Container:
        # A pythonPackageSpec pool runs as the container Vertex would make of it.
        spec = python_package.container_spec(job.pool)
        env = {e["name"]: str(e.get("value", "")) for e in spec.get("env", [])}
        # What Vertex sets in every replica, so programs that read it work locally too.
        env.setdefault("CLOUD_ML_JOB_ID", str(job.id))
        env.setdefault("CLOUD_ML_PROJECT_ID", job.project_number)
        container = containers.create(
            self._client,
            instance=self.store.instance,
            job_id=job.id,
            display_name=job.display_name,
            image=spec["imageUri"],
            command=spec.get("command", []),
            args=spec.get("args", []),
            env=env,
            network=self.config.network,
        )
        try:
            python_package.put_packages(container, list(packages))
        except BaseException:
            containers.remove(container)
            raise
        return container

    def _cancelled_early(self, job_id: int) -> bool:
        """If a cancel arrived before the container ran, finish the cancel; say so."""
        return self.store.transition(job_id, CANCELLED, only_from=[CANCELLING],
                                     end_time=True) is not None

    def _follow(self, job_id: int, container: Container) -> None:
        """Save the log as it comes, then record how the container ended and remove it."""
        with open(self.store.log_path(job_id), "wb") as log:
            for chunk in containers.stream_logs(container):
                if self._stopping.is_set():
                    return  # the container runs on; the next emulator re-attaches
                log.write(chunk)
                log.flush()
        code = containers.wait(container)
        if self._stopping.is_set():
            return
        containers.remove(container)
        self._finish(job_id, code)

    def _finish(self, job_id: int, code: int) -> None:
        for _ in range(5):
            job = self.store.get(job_id)
            if job is None or job.state in TERMINAL_STATES:
                return
            error = None
            if job.state == CANCELLING:
                target = CANCELLED
            elif code == 0:
                target = SUCCEEDED
            else:
                target = FAILED
                error = {"code": USER_CODE_FAILED,
                         "message": _exit_message(code, self.job_url(job_id))}
            if self.store.transition(job_id, target, only_from=[job.state], end_time=True,
                                     error=error):
                return

    def _fail(self, job_id: int, message: str, code: int) -> None:
        if self._stopping.is_set():
            return
        if not self._cancelled_early(job_id):
            self.store.transition(job_id, FAILED, only_from=[PENDING, RUNNING],
                                  end_time=True, error={"code": code, "message": message})

    def _simulate(self, job: Job) -> None:
        event = self._simulated[job.id] = threading.Event()
        try:
            if not self.store.transition(job.id, RUNNING, only_from=[PENDING],
                                         start_time=True):
                self._cancelled_early(job.id)
                return
            spec = python_package.container_spec(job.pool)
            line = " ".join([spec["imageUri"], *spec.get("command", []),
                             *spec.get("args", [])])
            self.store.log_path(job.id).write_text(f"[emulator] simulated run: {line}\n")
            event.wait(self.config.simulate_seconds)
            if not self._stopping.is_set():
                self._finish(job.id, 0)
        finally:
            self._simulated.pop(job.id, None)

    # -- restart --------------------------------------------------------------------------

    def _recover(self) -> None:
        active = {job.id: job for job in self.store.list(states=ACTIVE_STATES,
                                                          newest_first=False)}
        for container in containers.find(self._client, self.store.instance):
            job_id = int(container.labels.get(containers.LABEL_JOB, "0"))
            if job_id not in active:
                containers.remove(container)  # its job finished or was deleted
        for job in active.values():
            self._recover_job(job)

    def _recover_job(self, job: Job) -> None:
        found = containers.find(self._client, self.store.instance, job.id)
        container = found[0] if found else None
        if container is None or container.status == "created":
            if container is not None:
                containers.remove(container)
            if job.state == CANCELLING:
                self.store.transition(job.id, CANCELLED, only_from=[CANCELLING],
                                      end_time=True)
            elif job.state == PENDING or container is not None:
                # It never started: run it from the beginning.
                self.store.transition(job.id, QUEUED, only_from=[job.state],
                                      container_id=None, start_time=None)
            else:
                self._fail(job.id, (
                    f"The job's container ({(job.container_id or '?')[:12]}) vanished while "
                    "the emulator was stopped, so its exit status and the rest of its log "
                    "are lost. Resubmit the job."), EMULATOR_FAILED)
            return
        if job.state == PENDING:
            self.store.transition(job.id, RUNNING, only_from=[PENDING], start_time=True,
                                  container_id=container.id)
        elif job.state == CANCELLING:
            self._interrupt(job.id)
        self._spawn(job.id, self._follow_recovered, job.id, container)

    def _follow_recovered(self, job_id: int, container: Container) -> None:
        import docker.errors
        import requests.exceptions

        try:
            self._follow(job_id, container)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            self._fail(job_id, f"Lost track of the job's container: {e}", EMULATOR_FAILED)

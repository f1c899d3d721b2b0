"""Runs queued jobs: at most ``max_running`` at once, each replica as a container (or
simulated).

Life of a job: QUEUED → PENDING (images pulled, one container per replica created) →
RUNNING → SUCCEEDED when every replica exits 0, FAILED when one does not, when the job
outlives ``scheduling.timeout``, or when a Spot preemption (an injected fault) hits a job
without ``restartJobOnWorkerRestart`` (with it, the job runs again from the start). A
cancel moves it to CANCELLING, stops the containers, then CANCELLED. The log streams to
``logs/ID.log`` while the job runs (see :mod:`.replicas`) and the containers are removed
once their logs are saved.

On start, jobs left PENDING/RUNNING/CANCELLING by a previous emulator are picked up again:
their containers are found by label and followed to the end; a container that vanished
fails its job with a message saying so. An unexpected error in a job's thread fails the
job too (see :mod:`.supervise`): no job is left RUNNING by an emulator that runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import containers, gcs_mount, prebuilt, python_package, replicas, supervise
from .faults import FaultInjector
from .outputs import output_mount
from .replicas import JobLog, Outcome, Replica, Watcher
from .rpc import TERMINAL_STATES, ApiError
from .store import ACTIVE_STATES, Job, JobStore
from .tuning_store import trial_metrics_dir

HYPERTUNE_DIR = "/tmp/hypertune"  # cloudml-hypertune's default directory, in every trial

if TYPE_CHECKING:
    from docker.models.containers import Container

MODES = ("docker", "simulate", "none")
QUEUED, PENDING, RUNNING = "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"
CANCELLING, CANCELLED = "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"
SUCCEEDED, FAILED = "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"
# google.rpc.Code of a failed job's ``error`` when the emulator itself is in trouble.
EMULATOR_FAILED = 13


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
        Docker network mode of one-replica jobs' containers: ``none`` (default) or
        ``host``. Jobs with several replicas always use ``host``: their replicas talk to
        each other on 127.0.0.1.
    stop_grace_seconds
        Seconds between SIGTERM and SIGKILL when a job is cancelled.
    log_file
        Where the emulator's standard error goes (the background emulator's log), named
        in the message of a job failed by an error in the emulator itself.
    prebuilt_image
        The local image that runs a job asking for a Vertex AI prebuilt image
        (``us-docker.pkg.dev/vertex-ai/training/...`` and the like, which cannot be pulled
        offline); None: :func:`.prebuilt.default_local_image`.
    """

    mode: str = "docker"
    max_running: int = 4
    network: str = "none"
    simulate_seconds: float = 1.0
    stop_grace_seconds: int = 5
    log_file: str | None = None
    prebuilt_image: str | None = None


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
    faults
        Decides which Spot jobs get preempted (none without one).
    """

    def __init__(self, store: JobStore, config: RunnerConfig,
                 job_url: Callable[[int], str], faults: FaultInjector | None = None) -> None:
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.store = store
        self.config = config
        self.job_url = job_url
        self.faults = faults
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
                try:
                    self._fill()
                except Exception:  # the next tick retries; a dead scheduler would not
                    supervise.log.exception("scheduling queued jobs failed")

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
        thread = supervise.job_thread(
            job_id, lambda: target(*args), stopping=self._stopping, done=self._wake.set,
            remove=lambda: self._remove_containers(job_id), log_file=self.config.log_file,
            fail=lambda message: self._fail(job_id, message, EMULATOR_FAILED))
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
        found = containers.find(self._client, self.store.instance, job_id)
        threading.Thread(target=self._stop_all, args=(found,), name=f"emulator-stop-{job_id}",
                         daemon=True).start()

    def _stop_all(self, running: list[Container]) -> None:
        containers.stop_all(running, self.config.stop_grace_seconds)

    # -- one job --------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        import docker.errors
        import requests.exceptions

        created: list[Container] = []
        try:
            planned, mapped = prebuilt.map_images(replicas.plan(job), self.config.prebuilt_image)
            log = self.store.log_path(job.id)
            log.write_bytes(b"")  # a job queued again starts a new log
            prebuilt.ensure_images(self._client, planned, mapped, log)
            packages = self._packages(job, planned)
            mounts = self._mounts(job, download=True)
            if self._stopping.is_set() or self._cancelled_early(job.id):
                return
            self._create(job, planned, created, packages, mounts)
            if not self.store.transition(job.id, PENDING, only_from=[PENDING],
                                         container_id=created[0].id):
                for c in created:
                    containers.remove(c)
                self._cancelled_early(job.id)
                return
            for c in created:
                c.start()
            if not self.store.transition(job.id, RUNNING, only_from=[PENDING],
                                         start_time=True):
                self._stop_all(created)
            preempt = bool(self.faults and replicas.scheduling(job).get("strategy") == "SPOT"
                           and self.faults.preempt())
            running = dict(zip((r.name for r in planned), created, strict=True))
            self._follow(job.id, running, preempt=preempt, append=True)
        except (containers.ImageUnavailable, gcs_mount.SyncError) as e:
            self._fail(job.id, str(e), EMULATOR_FAILED)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            if not self._stopping.is_set():
                for c in created:
                    containers.remove(c)
            self._fail(job.id, f"Docker could not run the job's containers: {e}",
                       EMULATOR_FAILED)

    def _mounts(self, job: Job, *, download: bool = False) -> dict[str, str]:
        """Host directory -> path in the container, for every replica (see
        :func:`.gcs_mount.job_mounts`)."""
        mounts = gcs_mount.job_mounts(job.id, job.body, self.store.state_dir,
                                      self.store.log_path(job.id), download=download)
        if job.tuning_job is not None:
            # A trial's cloudml-hypertune directory, which the tuning job's driver reads
            # (see .tuning); writable by the container's user, whoever that is.
            metrics = trial_metrics_dir(self.store.state_dir, job.id)
            metrics.mkdir(parents=True, exist_ok=True)
            metrics.chmod(0o777)
            mounts[str(metrics)] = HYPERTUNE_DIR
        return mounts

    def _packages(self, job: Job, planned: list[Replica]) -> dict[int, list[Path]]:
        """Local copies of the code packages of every pool that runs a pythonPackageSpec."""
        pools = job.body["jobSpec"]["workerPoolSpecs"]
        return {i: python_package.fetch_all(pools[i], self.store.state_dir / "packages")
                for i in {r.pool for r in planned}}

    def _create(self, job: Job, planned: list[Replica], created: list[Container],
                packages: Mapping[int, Sequence[Path]], mounts: Mapping[str, str]) -> None:
        """Create every replica's container into ``created`` (the caller removes them if
        this fails midway), with its pool's code packages copied in."""
        # Replicas of one job reach each other on 127.0.0.1: that needs host networking.
        network = "host" if len(planned) > 1 else self.config.network
        # Every replica reaches the job's output location, as through Vertex's /gcs/ mount.
        mount = output_mount(job.body, self.store.state_dir)
        extra_env = dict(mount.env) if mount is not None else {}
        for r in planned:
            created.append(containers.create(
                self._client, instance=self.store.instance, job_id=job.id,
                display_name=job.display_name, image=r.image, command=r.command,
                args=r.args, env={**r.env, **extra_env}, network=network, replica=r.name,
                mounts=mounts))
            python_package.put_packages(created[-1], list(packages.get(r.pool, ())))

    def _cancelled_early(self, job_id: int) -> bool:
        """If a cancel arrived before the container ran, finish the cancel; say so."""
        return self.store.transition(job_id, CANCELLED, only_from=[CANCELLING],
                                     end_time=True) is not None

    def _follow(self, job_id: int, running: dict[str, Container], *,
                preempt: bool = False, append: bool = False) -> None:
        """Save the logs as they come, decide how the job ends, remove the containers."""
        job = self.store.get(job_id)
        if job is None:
            return
        log = JobLog(self.store.log_path(job_id),
                     lambda name: self.store.replica_log_path(job_id, name), running,
                     append=append)
        watcher = Watcher(running, log, stream_logs=containers.stream_logs,
                          wait=containers.wait, stopping=self._stopping)
        limit = replicas.timeout_seconds(job)
        deadline = job.start_time + limit if limit and job.start_time else None
        outcome = watcher.outcome(deadline=deadline, preempt=preempt)
        if outcome.kind == "stopping":
            return  # the containers run on; the next emulator re-attaches
        if outcome.kind != "succeeded":
            self._stop_all(list(running.values()))
        watcher.join()
        log.close()
        if self._stopping.is_set():
            return
        for c in running.values():
            containers.remove(c)
        if outcome.kind == "preempted" and replicas.scheduling(job).get(
                "restartJobOnWorkerRestart"):
            self._restart(job, outcome)
            return
        self._finish(job_id, outcome)

    def _restart(self, job: Job, outcome: Outcome) -> None:
        """After a preemption, run every replica again from the start, as Vertex does
        with ``restartJobOnWorkerRestart``."""
        replicas.note(self.store.log_path(job.id), f"{outcome.replica} was preempted (Spot "
                      "VM reclaimed); restarting the job (restartJobOnWorkerRestart)")
        current = self.store.get(job.id)
        if current is None or current.state != RUNNING:
            self._finish(job.id, outcome)  # cancelled meanwhile
            return
        planned, _ = prebuilt.map_images(replicas.plan(job), self.config.prebuilt_image)
        created: list[Container] = []
        try:
            self._create(job, planned, created, self._packages(job, planned),
                         self._mounts(job))
            for c in created:
                c.start()
        except BaseException:
            for c in created:
                containers.remove(c)
            raise
        self._follow(job.id, dict(zip((r.name for r in planned), created, strict=True)),
                     append=True)

    def _finish(self, job_id: int, outcome: Outcome) -> None:
        self._upload(job_id)
        for _ in range(5):
            job = self.store.get(job_id)
            if job is None or job.state in TERMINAL_STATES:
                return
            error = None
            if job.state == CANCELLING:
                target = CANCELLED
            elif outcome.kind == "succeeded":
                target = SUCCEEDED
            else:
                target = FAILED
                own = self.store.replica_log_path(job_id, outcome.replica or "")
                error = replicas.failure(
                    outcome, job, url=self.job_url(job_id),
                    log=own if own.exists() else self.store.log_path(job_id))
            if self.store.transition(job_id, target, only_from=[job.state], end_time=True,
                                     error=error):
                return

    def _upload(self, job_id: int) -> None:
        gcs_mount.upload_written(self.store.state_dir, job_id, self.store.log_path(job_id))

    def _fail(self, job_id: int, message: str, code: int) -> None:
        if self._stopping.is_set():
            return
        self._upload(job_id)
        for _ in range(5):  # a cancel may arrive between the two transitions: retry
            if self._cancelled_early(job_id) or self.store.transition(
                    job_id, FAILED, only_from=[PENDING, RUNNING], end_time=True,
                    error={"code": code, "message": message}):
                return

    def _remove_containers(self, job_id: int) -> None:
        if self._client is not None:
            for c in containers.find(self._client, self.store.instance, job_id):
                containers.remove(c)

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
                self._finish(job.id, Outcome("succeeded"))
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
        if not found or any(c.status == "created" for c in found):
            for c in found:
                containers.remove(c)
            if job.state == CANCELLING:
                self.store.transition(job.id, CANCELLED, only_from=[CANCELLING],
                                      end_time=True)
            elif job.state == PENDING or found:
                # It never started: run it from the beginning.
                self.store.transition(job.id, QUEUED, only_from=[job.state],
                                      container_id=None, start_time=None)
            else:
                self._fail(job.id, (
                    f"The job's container ({(job.container_id or '?')[:12]}) vanished while "
                    "the emulator was stopped, so its exit status and the rest of its log "
                    "are lost. Resubmit the job."), EMULATOR_FAILED)
            return
        running = {containers.replica_of(c): c for c in found}
        if job.state == PENDING:
            self.store.transition(job.id, RUNNING, only_from=[PENDING], start_time=True,
                                  container_id=found[0].id)
        elif job.state == CANCELLING:
            self._interrupt(job.id)
        self._spawn(job.id, self._follow_recovered, job.id, running)

    def _follow_recovered(self, job_id: int, running: dict[str, Container]) -> None:
        import docker.errors
        import requests.exceptions

        try:
            self._follow(job_id, running)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            self._fail(job_id, f"Lost track of the job's container: {e}", EMULATOR_FAILED)

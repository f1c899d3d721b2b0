"""Every replica of every worker pool, as Vertex AI runs them: roles, addresses, the
``CLUSTER_SPEC``/``TF_CONFIG`` each sees, their logs, and how the job ends.

Replicas reach each other over the loopback interface: a job with more than one replica
runs its containers with host networking, each replica with its own port on 127.0.0.1
(bridge networking is off on these machines, and no other address may be used). The
addresses in ``CLUSTER_SPEC`` are those ``127.0.0.1:PORT`` pairs, where Vertex would give
``cmle-training-workerpool1-...-0:2222``.

The job ends as Vertex's does: it succeeds when every replica exits 0, fails as soon as
one exits non-zero (the others are stopped), and fails when it outlives
``scheduling.timeout``.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import python_package
from .containers import CHIEF
from .store import Job

if TYPE_CHECKING:
    from docker.models.containers import Container

# TF_CONFIG's task type of each pool; evaluators are not part of TF's training cluster.
_TF_ROLES = ("chief", "worker", "ps", "evaluator")
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Replica:
    """One replica: ``workerpool{pool}-{index}`` listening on 127.0.0.1:``port``."""

    pool: int
    index: int
    port: int
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"workerpool{self.pool}-{self.index}"


def replica_count(pool: Mapping[str, Any]) -> int:
    try:
        return max(int(pool.get("replicaCount", 1)), 1)
    except (TypeError, ValueError):
        return 1


def replica_names(job_spec: Mapping[str, Any]) -> list[str]:
    """Every replica's name (``workerpool{pool}-{index}``), chief first; empty pools have
    none."""
    return [f"workerpool{i}-{j}" for i, pool in enumerate(job_spec.get("workerPoolSpecs") or [])
            if pool for j in range(replica_count(pool))]


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (the kernel picks them)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def timeout_seconds(job: Job) -> float | None:
    """``jobSpec.scheduling.timeout`` in seconds (``"5400s"``), or ``None``."""
    raw = ((job.body.get("jobSpec") or {}).get("scheduling") or {}).get("timeout")
    if not raw:
        return None
    return float(str(raw).rstrip("s"))


def scheduling(job: Job) -> Mapping[str, Any]:
    return (job.body.get("jobSpec") or {}).get("scheduling") or {}


def plan(job: Job) -> list[Replica]:
    """The replicas of ``job``, chief first, each with the environment Vertex gives it."""
    job_spec = job.body["jobSpec"]
    pools = job_spec["workerPoolSpecs"]
    slots = [(i, j) for i, pool in enumerate(pools) if pool
             for j in range(replica_count(pool))]
    ports = dict(zip(slots, free_ports(len(slots)), strict=True))
    cluster: dict[str, list[str]] = {}
    tf_cluster: dict[str, list[str]] = {}
    for (i, _), port in ports.items():
        cluster.setdefault(f"workerpool{i}", []).append(f"127.0.0.1:{port}")
        if _TF_ROLES[i] != "evaluator":
            tf_cluster.setdefault(_TF_ROLES[i], []).append(f"127.0.0.1:{port}")
    replicas = []
    for (i, j), port in ports.items():
        # A pythonPackageSpec pool runs as the container Vertex would make of it.
        container = python_package.container_spec(pools[i])
        env = {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
        # Emulator jobs have no network, and images such as the Debian base image refuse
        # pip installs into their system Python (PEP 668), where Vertex's images (conda
        # or virtualenv based) take them: the SDK's own from_local_script command runs
        # `pip install --upgrade pip && pip3 install --user PACKAGE`. So every replica's
        # pip installs offline, without build isolation, and may write there; the job's
        # own env wins.
        for key, value in python_package.OFFLINE_ENV:
            env.setdefault(key, value)
        # What Vertex sets in every replica, so programs that read it work locally too.
        env.setdefault("CLOUD_ML_JOB_ID", str(job.id))
        env.setdefault("CLOUD_ML_PROJECT_ID", job.project_number)
        env.setdefault("CLUSTER_SPEC", json.dumps({
            "cluster": cluster, "environment": "cloud",
            "task": {"type": f"workerpool{i}", "index": j}, "job": job_spec}))
        if len(slots) > 1:  # Vertex sets TF_CONFIG for distributed jobs only
            env.setdefault("TF_CONFIG", json.dumps({
                "cluster": tf_cluster, "environment": "cloud",
                "task": {"type": _TF_ROLES[i], "index": j}, "job": job_spec}))
        replicas.append(Replica(pool=i, index=j, port=port, image=container["imageUri"],
                                command=tuple(container.get("command", [])),
                                args=tuple(container.get("args", [])), env=env))
    return replicas


class JobLog:
    """The job's log (``logs/ID.log``) and, for several replicas, one per replica.

    A single replica's output goes to the job's log as is; with several, each line of
    the job's log starts with ``[workerpool1-0] `` and each replica also has its own.
    """

    def __init__(self, job_log: Path, replica_path: Callable[[str], Path],
                 replicas: Iterable[str], *, append: bool = False) -> None:
        names = list(replicas)
        self.prefixed = len(names) > 1
        mode = "ab" if append else "wb"
        self._lock = threading.Lock()
        self._merged: IO[bytes] = open(job_log, mode)  # noqa: SIM115 - closed by close()
        self._own: dict[str, IO[bytes]] = {
            n: open(replica_path(n), mode) for n in names} if self.prefixed else {}
        self._partial = dict.fromkeys(names, b"")

    def write(self, replica: str, chunk: bytes) -> None:
        with self._lock:
            if not self.prefixed:
                self._merged.write(chunk)
                self._merged.flush()
                return
            own = self._own[replica]
            own.write(chunk)
            own.flush()
            data = self._partial[replica] + chunk
            *lines, self._partial[replica] = data.split(b"\n")
            prefix = f"[{replica}] ".encode()
            for line in lines:
                self._merged.write(prefix + line + b"\n")
            self._merged.flush()

    def close(self) -> None:
        with self._lock:
            for replica, rest in self._partial.items():
                if rest and self.prefixed:
                    self._merged.write(f"[{replica}] ".encode() + rest + b"\n")
            self._partial = dict.fromkeys(self._partial, b"")
            for f in (self._merged, *self._own.values()):
                f.close()


@dataclass(frozen=True)
class Outcome:
    """How watching a job's replicas ended.

    ``kind``: ``succeeded`` (every replica exited 0), ``failed`` (``replica`` exited
    ``code``), ``timeout``, ``preempted`` or ``stopping`` (the emulator shuts down and
    leaves the containers running for the next one).
    """

    kind: str
    replica: str | None = None
    code: int = 0


class Watcher:
    """Follows every replica's log and exit status until the job's end is decided.

    Parameters
    ----------
    containers
        Replica name -> its (started) container.
    log
        Where the output goes.
    stream_logs, wait
        The container's output stream and exit status (see ``containers``).
    stopping
        Set when the emulator shuts down.
    """

    def __init__(self, containers: Mapping[str, Container], log: JobLog, *,
                 stream_logs: Callable[[Container], Iterable[bytes]],
                 wait: Callable[[Container], int], stopping: threading.Event) -> None:
        self.containers = dict(containers)
        self._log = log
        self._stream_logs = stream_logs
        self._wait = wait
        self._stopping = stopping
        self._exits: queue.Queue[tuple[str, int | Exception]] = queue.Queue()
        self._threads = [threading.Thread(target=self._follow, args=(name, c), daemon=True,
                                          name=f"emulator-replica-{name}")
                         for name, c in self.containers.items()]
        for t in self._threads:
            t.start()

    def _follow(self, name: str, container: Container) -> None:
        try:
            for chunk in self._stream_logs(container):
                if self._stopping.is_set():
                    return  # the container runs on; the next emulator re-attaches
                self._log.write(name, chunk)
            if not self._stopping.is_set():
                self._exits.put((name, self._wait(container)))
        except Exception as e:  # outcome() raises it in the job's thread, which ends the job
            self._exits.put((name, e))

    def outcome(self, *, deadline: float | None = None, preempt: bool = False) -> Outcome:
        """Block until the job's end is decided.

        ``deadline`` is a ``time.time()`` (the job's start plus its timeout). With
        ``preempt``, the replicas are found preempted as soon as they run. An error
        following a replica (its log or exit status) is raised here.
        """
        pending = set(self.containers)
        while pending:
            if self._stopping.is_set():
                return Outcome("stopping")
            if preempt:
                return Outcome("preempted", CHIEF)
            left = None if deadline is None else deadline - time.time()
            if left is not None and left <= 0:
                return Outcome("timeout")
            try:
                name, code = self._exits.get(
                    timeout=POLL_SECONDS if left is None else min(POLL_SECONDS, left))
            except queue.Empty:
                continue
            if isinstance(code, Exception):
                raise code
            pending.discard(name)
            if code != 0:
                return Outcome("failed", name, code)
        return Outcome("succeeded")

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the log followers (after the containers stopped): the log is whole."""
        for t in self._threads:
            t.join(timeout)


def note(job_log: Path, text: str) -> None:
    """Append a line from the emulator itself (``[emulator] ...``) to a job's log."""
    with open(job_log, "ab") as f:
        f.write(f"[emulator] {text}\n".encode())


def last_lines(path: Path, n: int = 5) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n:])


# google.rpc.Code carried by a failed job's ``error``: Vertex reports a replica's non-zero
# exit as INVALID_ARGUMENT (3), a timeout as DEADLINE_EXCEEDED (4).
USER_CODE_FAILED, TIMED_OUT, PREEMPTED = 3, 4, 14


def failure(outcome: Outcome, job: Job, *, url: str, log: Path) -> dict[str, Any] | None:
    """The ``error`` of a job that ended with ``outcome`` (``None`` if it succeeded).

    ``log`` is the failed replica's own log: its last lines go into the message.
    """
    if outcome.kind == "succeeded":
        return None
    if outcome.kind == "failed":
        why = " (killed: out of memory, or SIGKILL)" if outcome.code == 137 else ""
        tail = last_lines(log)
        shown = f" Last lines of its log:\n{tail}" if tail else ""
        return {"code": USER_CODE_FAILED,
                "message": f"The replica {outcome.replica} exited with a non-zero status of "
                           f"{outcome.code}{why}. See the job's log: {url}{shown}"}
    if outcome.kind == "timeout":
        raw = scheduling(job).get("timeout")
        return {"code": TIMED_OUT,
                "message": f"The job ran longer than its timeout of {raw} "
                           "(jobSpec.scheduling.timeout) and was stopped. Raise --timeout "
                           f"or make the job faster. See the job's log: {url}"}
    return {"code": PREEMPTED,
            "message": f"The replica {outcome.replica} was preempted: its Spot VM was "
                       "reclaimed (injected by the emulator's --preempt-rate), and "
                       "restartJobOnWorkerRestart is off. Resubmit the job, or submit it "
                       "with --restart_on_worker_restart to restart it after a preemption. "
                       f"See the job's log: {url}"}

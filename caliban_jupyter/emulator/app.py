"""One emulator: state dir lock, store, runner and HTTP server, started and stopped together.

>>> with Emulator(EmulatorConfig(state_dir=Path("/tmp/emu"), port=0)) as emu:
...     emu.endpoint   # 'http://127.0.0.1:PORT', for JobServiceClient's api_endpoint
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from ..errors import UsageError
from .api import JobService
from .faults import FaultConfig, FaultInjector
from .runner import Runner, RunnerConfig
from .server import EmulatorHTTPServer, make_server, serve_in_thread
from .store import JobStore
from .tuning import Tuner
from .tuning_api import TuningService
from .tuning_store import TuningStore

DEFAULT_PORT = 8470


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an emulator needs; see :class:`RunnerConfig` and :class:`FaultConfig`.

    Attributes
    ----------
    state_dir
        SQLite database and job logs; one emulator at a time per state dir.
    port
        Port on 127.0.0.1 (0: any free port).
    port_fallback
        Take any free port if ``port`` is busy instead of failing.
    """

    state_dir: Path
    port: int = DEFAULT_PORT
    port_fallback: bool = False
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    verbose: bool = False


class Emulator:
    """A running local Vertex AI emulator (in this process, serving from a thread)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._lock_file: IO[str] | None = None
        self.store: JobStore | None = None
        self.runner: Runner | None = None
        self.tuner: Tuner | None = None
        self.server: EmulatorHTTPServer | None = None
        self.faults = FaultInjector(config.faults)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self.server is not None, "start() the emulator first"
        return int(self.server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def job_url(self, job_id: int) -> str:
        return f"{self.endpoint}/ui/jobs/{job_id}"

    def start(self) -> Emulator:
        """Lock the state dir, recover jobs, start running them and serving requests.

        Raises
        ------
        UsageError
            The state dir is not a usable directory or another emulator uses it, or the
            port is taken.
        DockerError
            Jobs should run (the default) but the Docker engine is unreachable.
        """
        state_dir = Path(self.config.state_dir).expanduser()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot use {state_dir} as the emulator's state dir "
                             f"({e.strerror}); pass a writable directory as --state-dir"
                             ) from None
        self._lock_state_dir(state_dir)
        try:
            self.store = JobStore(state_dir)
            self.runner = Runner(self.store, self.config.runner, self.job_url, self.faults)
            service = JobService(self.store, self.runner)
            self.tuner = Tuner(self.store, TuningStore(self.store), self.runner)
            tuning = TuningService(self.tuner.tunings, self.tuner)
            try:
                self.server = make_server(self.config.port, service, self.store, self.faults,
                                          tuning=tuning,
                                          port_fallback=self.config.port_fallback,
                                          verbose=self.config.verbose)
            except OSError as e:
                raise UsageError(
                    f"cannot listen on 127.0.0.1:{self.config.port} ({e.strerror}). Stop "
                    "what uses it or pass another --port (0 picks a free one)."
                ) from None
            self.runner.start()
            self.tuner.start()
        except BaseException:
            self.stop()
            raise
        self._thread = serve_in_thread(self.server)
        return self

    def stop(self) -> None:
        """Stop serving and scheduling; running containers are left to a later emulator."""
        if self.server is not None:
            if self._thread is not None:
                self.server.shutdown()
            self.server.server_close()
            self.server.close_connections()
            self.server = None
        if self.tuner is not None:
            self.tuner.shutdown()
            self.tuner = None
        if self.runner is not None:
            self.runner.shutdown()
            self.runner = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    def serve_until_signal(self) -> None:
        """Block until SIGINT or SIGTERM, then stop (the foreground ``caliban emulator``)."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        while not done.wait(1.0):
            pass
        self.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _lock_state_dir(self, state_dir: Path) -> None:
        # Two emulators on one state dir would both run its queued jobs.
        lock = open(state_dir / "emulator.lock", "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "unknown"
            lock.close()
            raise UsageError(
                f"another emulator (pid {owner}) already uses the state dir {state_dir}. "
                "Stop it (`caliban emulator stop`) or pass another --state-dir."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

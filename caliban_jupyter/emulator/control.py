"""Find, start and stop the background emulator of a ``CALIBAN_HOME``. Cheap to import.

The running emulator records itself in ``$CALIBAN_HOME/emulator.json`` (endpoint, port,
pid, state dir); ``CALIBAN_HOME`` defaults to ``~/.caliban`` and the state dir to
``$CALIBAN_HOME/emulator``. A record only counts if that pid answers ``/healthz`` there.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..events import Info, Progress, ignore

RECORD = "emulator.json"
START_TIMEOUT = 60.0


def caliban_home(home: Path | None = None) -> Path:
    """``home``, else ``$CALIBAN_HOME``, else ``~/.caliban``."""
    if home is not None:
        return Path(home).expanduser()
    return Path(os.environ.get("CALIBAN_HOME") or "~/.caliban").expanduser()


def default_state_dir(home: Path | None = None) -> Path:
    return caliban_home(home) / "emulator"


def read_record(home: Path | None = None) -> dict[str, Any] | None:
    try:
        data = json.loads((caliban_home(home) / RECORD).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def remove_record(path: Path, pid: int) -> None:
    """Remove the record at ``path`` if it is still ``pid``'s."""
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (FileNotFoundError, json.JSONDecodeError):
        pass


def health(endpoint: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The emulator's ``/healthz`` answer, or ``None`` if nothing healthy answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/healthz", timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):  # URLError and timeouts are OSErrors
        return None
    return data if isinstance(data, dict) and data.get("status") == "ok" else None


def running(home: Path | None = None) -> dict[str, Any] | None:
    """The record of this home's emulator if it is up and healthy, else ``None``."""
    record = read_record(home)
    if not record or "endpoint" not in record:
        return None
    answer = health(str(record["endpoint"]))
    if answer is None or answer.get("pid") != record.get("pid"):
        return None
    return record


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    # Serializes "is one running? else start one" between processes (two kernels, say).
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "emulator.start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(home: Path | None = None, options: Sequence[str] = (),
          port_fallback: bool = True) -> dict[str, Any]:
    """Start an emulator in the background, detached; return its record once healthy.

    ``options`` are ``caliban emulator`` flags (``--port``, ``--max-running``...).

    Raises
    ------
    BackendError
        It did not come up; the message holds the end of its log.
    """
    home = caliban_home(home)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "emulator.log"
    record_path = home / RECORD
    argv = [sys.executable, "-m", "caliban_jupyter.emulator", "run",
            "--record", str(record_path), "--log-file", str(log_path), *options]
    if "--state-dir" not in options:
        argv += ["--state-dir", str(default_state_dir(home))]
    if port_fallback:
        argv.append("--port-fallback")
    with open(log_path, "ab") as log:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        record = read_record(home)
        if record and record.get("pid") == child.pid and health(str(record["endpoint"])):
            return record
        if child.poll() is not None:
            break
        time.sleep(0.1)
    if child.poll() is None:
        child.terminate()
    tail = log_path.read_text(errors="replace").splitlines()[-8:]
    raise BackendError(
        "the local Vertex emulator did not start. Its log (" + str(log_path) + ") ends "
        "with:\n  " + "\n  ".join(tail) + "\nFix the cause, or run `caliban emulator` in "
        "the foreground to see it."
    )


def ensure_emulator(home: Path | None = None, progress: Progress = ignore) -> str:
    """The endpoint of this home's emulator, starting one in the background if needed.

    Reuses a healthy running emulator; otherwise starts one (on port 8470 when free) and
    emits one :class:`~caliban_jupyter.events.Info`. Safe when several processes call it
    at once.

    Returns
    -------
    str
        ``http://127.0.0.1:PORT``, the ``api_endpoint`` for the SDK.
    """
    home = caliban_home(home)
    with _home_lock(home):
        record = running(home)
        if record is None:
            record = start(home)
            progress(Info(f"started the local Vertex emulator on {record['endpoint']} "
                          "(stop it with `caliban emulator stop`)"))
    return str(record["endpoint"])


def stop(home: Path | None = None, timeout: float = 30.0) -> dict[str, Any] | None:
    """Stop this home's background emulator; its record, or ``None`` if none ran.

    Running jobs' containers keep running; the next emulator picks them up again.
    """
    home = caliban_home(home)
    with _home_lock(home):
        record = read_record(home)
        if not record:
            return None
        pid = int(record.get("pid", 0))
        if pid <= 0 or running(home) is None:
            remove_record(home / RECORD, pid)
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
            _reap(pid)
        if _pid_alive(pid):
            raise BackendError(f"the emulator (pid {pid}) did not stop within {timeout:.0f} "
                               f"s; kill it with `kill {pid}`.")
        remove_record(home / RECORD, pid)
        return record


def _reap(pid: int) -> None:
    # A child of this very process (tests start and stop in one process) stays a zombie,
    # and so "alive", until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

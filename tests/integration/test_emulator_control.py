"""``caliban emulator start|status|stop`` and ``ensure_emulator``: real background
processes in a temporary ``CALIBAN_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.emulator import PARENT, TIMEOUT, custom_job, sdk_client

from caliban_jupyter.emulator import control
from caliban_jupyter.events import Event, Info


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "caliban-home"
    monkeypatch.setenv("CALIBAN_HOME", str(home))
    yield home
    control.stop(home)


def caliban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", *args],
                          capture_output=True, text=True, timeout=120, env=os.environ)


def test_start_status_stop(home: Path) -> None:
    assert caliban("emulator", "status").returncode == 1
    started = caliban("emulator", "start", "--no-run", "--port", "0", "--json")
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    assert record["endpoint"].startswith("http://127.0.0.1:")
    assert record == json.loads((home / "emulator.json").read_text())
    assert record["stateDir"] == str((home / "emulator").resolve())

    status = caliban("emulator", "status")
    assert status.returncode == 0 and record["endpoint"] in status.stdout
    again = caliban("emulator", "start", "--no-run", "--port", "0")
    assert "already running" in again.stdout and record["endpoint"] in again.stdout

    client = sdk_client(record["endpoint"])
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job("kept"),
                                   timeout=TIMEOUT)

    stopped = caliban("emulator", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (home / "emulator.json").exists()
    assert caliban("emulator", "status").returncode == 1
    assert "no local Vertex emulator was running" in caliban("emulator", "stop").stdout

    # A new emulator on the same state dir still has the job.
    restarted = json.loads(caliban("emulator", "start", "--no-run", "--port", "0",
                                   "--json").stdout)
    got = sdk_client(restarted["endpoint"]).get_custom_job(name=job.name, timeout=TIMEOUT)
    assert got.display_name == "kept"


def test_a_second_emulator_on_the_same_state_dir_is_refused(home: Path) -> None:
    record = control.start(home, ["--no-run", "--port", "0"])
    clash = caliban("emulator", "--no-run", "--port", "0", "--state-dir",
                    record["stateDir"])
    assert clash.returncode == 2
    assert "already uses the state dir" in clash.stderr and "caliban emulator stop" in \
        clash.stderr


@pytest.mark.parametrize("args,message", [
    (["--port", "99999"], "--port 99999: give a port from 1 to 65535"),
    (["--port", "0", "--state-dir", "STATE_FILE"], "cannot use .* as the emulator's state "
     "dir \\(File exists\\); pass a writable directory"),
])
def test_bad_port_or_state_dir_is_one_error(home: Path, tmp_path: Path, args: list[str],
                                            message: str) -> None:
    import re

    state_file = tmp_path / "state-file"
    state_file.write_text("")
    args = [str(state_file) if a == "STATE_FILE" else a for a in args]
    r = caliban("emulator", "--no-run", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert re.search(f"caliban emulator: error: {message}", r.stderr), r.stderr


@pytest.mark.docker
def test_ensure_emulator_starts_once_then_reuses(home: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from caliban_jupyter.emulator.control import ensure_emulator
        events = []
        endpoint = ensure_emulator(progress=events.append)
        print(endpoint, len(events), events[0].text if events else "")
    """)
    racers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, env=os.environ) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].split(maxsplit=2) for p in racers]
    assert all(p.returncode == 0 for p in racers)
    endpoints = {out[0] for out in outputs}
    assert len(endpoints) == 1
    assert sorted(out[1] for out in outputs) == ["0", "0", "1"]
    started = next(out[2] for out in outputs if out[1] == "1")
    (endpoint,) = endpoints
    assert started.strip() == (f"started the local Vertex emulator on {endpoint} "
                               "(stop it with `caliban emulator stop`)")

    events: list[Event] = []
    assert control.ensure_emulator(home, events.append) == endpoint
    assert events == []
    record = control.stop(home)
    assert record is not None and record["endpoint"] == endpoint
    events.clear()
    assert control.ensure_emulator(home, events.append).startswith("http://127.0.0.1:")
    assert len(events) == 1 and isinstance(events[0], Info)

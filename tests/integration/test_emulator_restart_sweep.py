"""The emulator killed (SIGKILL) and restarted in the middle of a sweep loses nothing: the
client retries through the outage and the sweep ends with every job exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

from caliban_jupyter.backends.base import RetryPolicy
from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.emulator import control
from caliban_jupyter.history import History
from caliban_jupyter.records import SID_LABEL
from caliban_jupyter.service.submit import submit_sweep

from .test_faults import all_jobs, sweep

N = 150


def test_emulator_killed_and_restarted_mid_sweep_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "emu-home"
    # Latency keeps the sweep in flight long enough to kill the emulator in the middle.
    options = ["--no-run", "--latency-ms", "20"]
    first = control.start(home, ["--port", "0", *options])
    endpoint = str(first["endpoint"])
    port = urlparse(endpoint).port
    backend = LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    history_path = tmp_path / "h.sqlite"
    result: dict[str, object] = {}

    def submit() -> None:
        try:
            with History(history_path) as history:
                result["records"] = submit_sweep(
                    sweep(N, "restart"), backend, history, xgroup="restart", max_workers=4,
                    retry=RetryPolicy(max_attempts=40, initial=0.05, maximum=0.5))
        except Exception as e:  # surfaced by the assertions below, not swallowed
            result["error"] = e

    worker = threading.Thread(target=submit)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        with History(history_path) as reader:
            while (done := sum(r.is_submitted for r in reader.jobs("restart"))) < N // 3:
                assert worker.is_alive(), f"the sweep ended early: {result.get('error')!r}"
                assert time.monotonic() < deadline, "the sweep did not start"
                time.sleep(0.05)
        os.kill(int(first["pid"]), signal.SIGKILL)
        assert done < N, "the sweep finished before the emulator was killed"
        time.sleep(1.0)  # an outage the client must ride out
        second = control.start(home, ["--port", str(port), *options])
        assert second["pid"] != first["pid"] and second["endpoint"] == endpoint
        worker.join(timeout=300)
        assert not worker.is_alive()
    finally:
        control.stop(home)
        if worker.is_alive():
            worker.join(timeout=60)

    # Restart once more so the final listing reads what the second emulator persisted.
    control.start(home, ["--port", str(port), *options])
    try:
        jobs = all_jobs(endpoint, "restart")
    finally:
        control.stop(home)
    assert "error" not in result, result.get("error")
    records = result["records"]
    sids = Counter(str(j["labels"][SID_LABEL]) for j in jobs)  # type: ignore[index]
    assert len(jobs) == N, "a job is missing or duplicated"
    assert max(sids.values()) == 1
    assert set(sids) == {r.submission_id for r in records}  # type: ignore[attr-defined]
    assert sorted(int(j["labels"]["caliban_index"]) for j in jobs) == list(range(1, N + 1))

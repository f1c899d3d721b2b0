"""Exactly-once submission through the real SDK against the emulator injecting faults.

The emulator answers 20% of API requests with 429 or 503 and drops the connection of some
creates after storing the job; jobs are not executed (``--no-run``), so no Docker is needed.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from caliban_jupyter.backends.base import RetryPolicy
from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.emulator import control
from caliban_jupyter.history import History
from caliban_jupyter.records import SID_LABEL
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.submit import submit_sweep
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

FAULTS = ["--fault-rate", "0.2", "--drop-after-commit-rate", "0.05", "--seed", "11"]


@pytest.fixture
def faulty_emulator(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "emu-home"
    record = control.start(home, ["--port", "0", "--no-run", *FAULTS])
    yield str(record["endpoint"])
    control.stop(home)


def sweep(n: int, xgroup: str) -> list[JobSpec]:
    return [JobSpec(display_name=f"{xgroup}_{i}", index=i, region="us-central1",
                    image_uri="127.0.0.1:5000/never-run:latest", args=("--i", str(i)),
                    labels={"xgroup": xgroup, "job_name": "faults"},
                    machine=MachineSpec("n1-standard-4"), experiment={"i": i})
            for i in range(1, n + 1)]


def all_jobs(endpoint: str, xgroup: str) -> list[dict[str, object]]:
    # A separate, patient client: the listing itself also meets injected faults.
    reader = LocalBackend(project="local", region="us-central1", endpoint=endpoint,
                          read_retry=RetryPolicy(max_attempts=20, initial=0.01, maximum=0.1))
    return list(reader.list_group(xgroup))


def test_200_jobs_exactly_once_under_faults(faulty_emulator: str, tmp_path: Path) -> None:
    backend = LocalBackend(project="local", region="us-central1", endpoint=faulty_emulator,
                           read_retry=RetryPolicy(max_attempts=10, initial=0.01, maximum=0.2))
    events: list[object] = []
    with History(tmp_path / "h.sqlite") as history:
        records = submit_sweep(sweep(200, "faults"), backend, history, xgroup="faults",
                               progress=events.append, max_workers=8,
                               retry=RetryPolicy(max_attempts=12, initial=0.01, maximum=0.2))
        stored = history.jobs("faults")

    jobs = all_jobs(faulty_emulator, "faults")
    sids = Counter(str(j["labels"][SID_LABEL]) for j in jobs)  # type: ignore[index]
    assert len(jobs) == 200, "a job is missing or duplicated"
    assert max(sids.values()) == 1, "a submission id was created twice"
    assert set(sids) == {r.submission_id for r in records} == {r.submission_id for r in stored}
    assert {r.resource_name for r in records} == {j["name"] for j in jobs}
    assert all(r.state == "QUEUED" for r in stored)
    assert sum(type(e).__name__ == "JobSubmitted" for e in events) == 200

    # The faults really happened, including creates stored but never answered.
    with urllib.request.urlopen(f"{faulty_emulator}/healthz", timeout=10) as response:
        faults = json.load(response)["faults"]
    assert faults.get("dropped_after_commit", 0) >= 1
    assert faults.get("injected_429", 0) >= 10 and faults.get("injected_503", 0) >= 10
    assert backend.calls["create"] > 200


def test_group_rebuilt_from_labels_despite_faults(faulty_emulator: str, tmp_path: Path) -> None:
    backend = LocalBackend(project="local", region="us-central1", endpoint=faulty_emulator,
                           read_retry=RetryPolicy(max_attempts=20, initial=0.01, maximum=0.1))
    with History(tmp_path / "a.sqlite") as history:
        submit_sweep(sweep(30, "rebuild"), backend, history, xgroup="rebuild",
                     retry=RetryPolicy(max_attempts=12, initial=0.01, maximum=0.2))
    with History(tmp_path / "fresh.sqlite") as fresh:  # another machine: no history
        records = tracking.status("rebuild", backend=backend, history=fresh)
        assert [r.index for r in records] == list(range(1, 31))
        assert {r.project for r in records} == {"local"}
        assert all(r.url and r.url.startswith(faulty_emulator + "/ui/jobs/") for r in records)
        assert fresh.group("rebuild") is not None

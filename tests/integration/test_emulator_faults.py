"""Fault injection actually injects: counted answers, determinism by seed, dropped
connections after a committed create. No Docker needed (jobs are not run)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import google.api_core.exceptions as gexc
import pytest
import requests
from support.emulator import PARENT, TIMEOUT, custom_job, sdk_client

from caliban_jupyter.emulator import (
    Emulator,
    EmulatorConfig,
    FaultConfig,
    RunnerConfig,
)


def emulator(tmp_path: Path, **faults) -> Emulator:
    return Emulator(EmulatorConfig(state_dir=tmp_path, port=0,
                                   runner=RunnerConfig(mode="none"),
                                   faults=FaultConfig(**faults)))


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert body["error"]["code"] == e.code and "injected" in body["error"]["message"]
        return e.code


def statuses(endpoint: str, n: int) -> list[int]:
    return [status_of(f"{endpoint}/v1/{PARENT}/customJobs") for _ in range(n)]


def test_fault_rate_answers_429_and_503_and_counts_them(tmp_path: Path) -> None:
    with emulator(tmp_path / "a", fault_rate=0.5, seed=7) as emu:
        seen = statuses(emu.endpoint, 200)
        with urllib.request.urlopen(f"{emu.endpoint}/healthz", timeout=TIMEOUT) as r:
            counts = json.loads(r.read())["faults"]  # /healthz itself is never faulted
    tally = Counter(seen)
    assert set(tally) == {200, 429, 503}
    assert 50 < tally[200] < 150  # about half, with a wide margin
    assert counts["injected_429"] == tally[429] and counts["injected_503"] == tally[503]
    assert counts["requests"] == 200
    # The same seed injects the same faults in the same order.
    with emulator(tmp_path / "b", fault_rate=0.5, seed=7) as again:
        assert statuses(again.endpoint, 200) == seen
    with emulator(tmp_path / "c", fault_rate=0.5, seed=8) as other:
        assert statuses(other.endpoint, 200) != seen


def test_sdk_sees_injected_faults_and_nothing_is_created(tmp_path: Path) -> None:
    with emulator(tmp_path, fault_rate=1.0, seed=1) as emu:
        client = sdk_client(emu.endpoint)
        raised = Counter()
        for i in range(20):
            with pytest.raises((gexc.TooManyRequests, gexc.ServiceUnavailable)) as info:
                client.create_custom_job(parent=PARENT, custom_job=custom_job(f"j{i}"),
                                         timeout=TIMEOUT)
            raised[type(info.value).__name__] += 1
        assert set(raised) == {"TooManyRequests", "ServiceUnavailable"}
        assert emu.store.count_all() == 0


def test_drop_after_commit_stores_the_job_but_never_answers(tmp_path: Path) -> None:
    with emulator(tmp_path, drop_after_commit_rate=1.0) as emu:
        client = sdk_client(emu.endpoint)
        for i in range(3):
            with pytest.raises(requests.exceptions.ConnectionError):
                client.create_custom_job(parent=PARENT, custom_job=custom_job(f"lost-{i}"),
                                         timeout=TIMEOUT)
        # The jobs exist: a client that resumes must look before it creates again.
        listed = {j.display_name for j in client.list_custom_jobs(parent=PARENT,
                                                                   timeout=TIMEOUT)}
        assert listed == {"lost-0", "lost-1", "lost-2"}
        assert emu.faults.snapshot()["dropped_after_commit"] == 3


def test_latency_delays_but_answers(tmp_path: Path) -> None:
    with emulator(tmp_path, latency_ms=20) as emu:
        client = sdk_client(emu.endpoint)
        job = client.create_custom_job(parent=PARENT, custom_job=custom_job("slow"),
                                       timeout=TIMEOUT)
        assert client.get_custom_job(name=job.name, timeout=TIMEOUT).name == job.name

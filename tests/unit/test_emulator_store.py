"""The job store (SQLite in a temp dir) and list paging over it, without HTTP or Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from caliban_jupyter.emulator.api import JobService
from caliban_jupyter.emulator.rpc import ApiError
from caliban_jupyter.emulator.runner import Runner, RunnerConfig
from caliban_jupyter.emulator.store import JobStore
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec


def body(name: str, **labels: str) -> dict:
    return JobSpec(display_name=name, index=1, region="us-central1", image_uri="img",
                   args=(), labels=labels, machine=MachineSpec("n1-standard-4")).to_custom_job()


@pytest.fixture
def store(tmp_path: Path):
    store = JobStore(tmp_path)
    yield store
    store.close()


@pytest.fixture
def service(store: JobStore) -> JobService:
    # A runner in "none" mode that is never started: jobs stay QUEUED.
    return JobService(store, Runner(store, RunnerConfig(mode="none"), str))


def test_ids_increase_and_survive_reopening(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    ids = [store.create("1", "l", body(f"j{i}")).id for i in range(3)]
    instance = store.instance
    store.close()
    store = JobStore(tmp_path)
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert store.create("1", "l", body("later")).id > ids[-1]
    assert store.instance == instance  # containers are found again after a restart
    store.close()


def test_transition_is_compare_and_set(store: JobStore) -> None:
    job = store.create("1", "l", body("j"))
    assert store.transition(job.id, "JOB_STATE_RUNNING", only_from=["JOB_STATE_PENDING"]) \
        is None
    moved = store.transition(job.id, "JOB_STATE_PENDING", only_from=["JOB_STATE_QUEUED"])
    assert moved is not None and moved.state == "JOB_STATE_PENDING"
    done = store.transition(job.id, "JOB_STATE_FAILED", end_time=True,
                            error={"code": 3, "message": "m"})
    assert done is not None and done.end_time and done.error == {"code": 3, "message": "m"}
    assert done.to_resource()["error"] == {"code": 3, "message": "m"}
    assert done.to_resource()["endTime"].endswith("Z")


def test_logs_tail(store: JobStore) -> None:
    job = store.create("1", "l", body("j"))
    assert store.read_log(job.id) == ""
    store.log_path(job.id).write_text("a\nb\nc\n")
    assert store.read_log(job.id, 2) == "b\nc\n"
    assert store.read_log(job.id, 0) == ""
    store.delete(job.id)
    assert store.get(job.id) is None and not store.log_path(job.id).exists()


def test_paging_across_internal_batches(service: JobService) -> None:
    for i in range(400):
        service.create("proj", "us-central1", body(f"j{i}", **({"pick": "y"} if i % 3 == 0
                                                                 else {})))
    service.create("other-proj", "us-central1", body("elsewhere", pick="y"))
    seen, token, pages = [], None, 0
    while True:
        page = service.list("proj", "us-central1", 'labels.pick="y"', 7, token)
        seen += [job["displayName"] for job in page["customJobs"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    expected = [f"j{i}" for i in range(399, -1, -1) if i % 3 == 0]
    assert seen == expected and pages == -(-len(expected) // 7)
    with pytest.raises(ApiError, match="another filter"):
        service.list("proj", "us-central1", "labels.pick:*", 7,
                     service.list("proj", "us-central1", 'labels.pick="y"', 7, None)[
                         "nextPageToken"])
    with pytest.raises(ApiError, match="page_size"):
        service.list("proj", "us-central1", None, -1, None)

"""The SQLite history and the JobRecord JSON form."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from caliban_jupyter.history import History, caliban_home
from caliban_jupyter.records import (
    JobRecord,
    machine_from_json,
    record_for_spec,
    record_from_custom_job,
    spec_from_record,
)
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

SPEC = JobSpec(display_name="train_1", index=1, region="us-central1",
               image_uri="reg/img:1", args=("--lr", "0.1"),
               labels={"xgroup": "g", "job_name": "train"},
               machine=MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 2),
               experiment={"lr": 0.1})


def record(i: int = 1, xgroup: str = "g", sid: str | None = None) -> JobRecord:
    spec = SPEC.with_labels({"xgroup": xgroup})
    from dataclasses import replace

    spec = replace(spec, index=i, display_name=f"train_{i}")
    return record_for_spec(spec, submission_id=sid or f"{xgroup}-{i}", xgroup=xgroup,
                           backend="local", project="p")


def test_record_json_round_trip() -> None:
    r = record().evolve(state="RUNNING", resource_name="projects/p/locations/l/customJobs/7",
                        url="http://127.0.0.1:1/ui/jobs/7")
    data = r.to_json()
    assert data["args"] == ["--lr", "0.1"]
    assert data["machine"] == {"machineType": "n1-standard-8",
                               "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 2}
    assert data["request"] == SPEC.to_custom_job()
    assert JobRecord.from_json(data) == r
    assert JobRecord.from_json({**data, "future_field": 1}) == r
    assert r.job_id == "7" and not r.is_terminal
    assert r.evolve(state="PARTIALLY_SUCCEEDED").is_terminal
    assert not record().is_submitted


def test_record_from_custom_job() -> None:
    job = {
        "name": "projects/proj/locations/europe-west4/customJobs/123",
        "displayName": "train_4", "state": "JOB_STATE_FAILED",
        "labels": {"xgroup": "g", "caliban_sid": "abc", "caliban_index": "4"},
        "jobSpec": {"workerPoolSpecs": [{
            "machineSpec": {"machineType": "a2-highgpu-1g",
                            "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 1},
            "replicaCount": "1", "containerSpec": {"imageUri": "img", "args": ["--x"]}}]},
        "createTime": "2024-05-01T00:00:00Z", "error": {"code": 3, "message": "exit 1"},
    }
    r = record_from_custom_job(job, backend="vertex", url="u")
    assert (r.project, r.region, r.xgroup, r.index, r.submission_id) == \
        ("proj", "europe-west4", "g", 4, "abc")
    assert (r.state, r.error, r.args, r.image_uri, r.created) == \
        ("FAILED", "exit 1", ("--x",), "img", "2024-05-01T00:00:00Z")
    assert r.is_terminal
    assert machine_from_json(r.machine) == MachineSpec("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1)
    again = spec_from_record(r, display_name="train_4-retry1")
    assert again.machine == MachineSpec("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1)
    assert "caliban_sid" not in again.labels and again.region == "europe-west4"


def test_caliban_home_is_created(tmp_path: Path) -> None:
    home = caliban_home({"CALIBAN_HOME": str(tmp_path / "x" / "y")})
    assert home.is_dir()


def test_groups_jobs_and_lookups(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        h.add_group("g", backend="local", project="p", region="r", created="2024-01-01")
        h.add_group("g", backend="vertex", project="q", region="s")  # first write wins
        h.add_group("g2", backend="local", project="p", region="r", created="2024-02-01")
        assert [g.xgroup for g in h.latest_groups()] == ["g2", "g"]
        assert h.group("g").backend == "local"  # type: ignore[union-attr]
        h.add_experiments("g", [(1, ["--lr", "0.1"], {"lr": 0.1})])
        assert h.experiments("g") == [{"index": 1, "args": ["--lr", "0.1"],
                                       "config": {"lr": 0.1}}]
        h.put_jobs([record(2), record(1)])
        h.put_job(record(1).evolve(state="RUNNING",
                                   resource_name="projects/p/locations/r/customJobs/9"))
        assert [(r.index, r.state) for r in h.jobs("g")] == [(1, "RUNNING"),
                                                            (2, "NOT_SUBMITTED")]
        assert h.count_jobs("g") == 2 and h.jobs("g", limit=1)[0].index == 1
        assert h.find_jobs("train_1")[0].index == 1
        assert h.find_jobs("9")[0].index == 1
        assert h.find_jobs("projects/p/locations/r/customJobs/9")[0].index == 1
        assert h.find_jobs("train_1", xgroup="g2") == []


def test_opening_a_broken_file_says_what_to_do(tmp_path: Path) -> None:
    from caliban_jupyter.errors import CalibanError

    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CalibanError, match="move it aside"):
        History(path)


def test_a_history_damaged_after_its_header_says_what_to_do(tmp_path: Path) -> None:
    """Pages damaged past the header open fine but fail when read or written: that too is
    one CalibanError, not a sqlite3 traceback."""
    from caliban_jupyter.errors import CalibanError

    path = tmp_path / "h.sqlite"
    with History(path) as history:
        history.add_group("g", backend="local", project="p", region="us-central1")
        history.put_jobs([record(i) for i in range(1, 50)])
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * (path.stat().st_size - 4096))
    history = History(path)
    for use in (lambda: history.latest_groups(), lambda: history.jobs("g"),
                lambda: history.put_job(record(99))):
        with pytest.raises(CalibanError, match="move it aside"):
            use()


def _writer(args: Any) -> int:
    path, worker = args
    h = History(path)
    h.add_group("shared", backend="local", project="p", region="r")
    for i in range(150):
        r = record(worker * 1000 + i, xgroup="shared", sid=f"w{worker}-{i}")
        h.put_job(r)  # one transaction per job: maximal contention
        h.put_job(r.evolve(state="QUEUED"))
    h.close()
    return worker


def test_four_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    History(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert sorted(pool.map(_writer, [(path, w) for w in range(4)])) == [0, 1, 2, 3]
    with History(path) as h:
        jobs = h.jobs("shared")
        assert len(jobs) == 600
        assert {j.state for j in jobs} == {"QUEUED"}
        assert len({j.submission_id for j in jobs}) == 600


def test_many_threads_opening_a_new_history_at_once(tmp_path):
    """Opening switches a new file to WAL and creates the schema: done by several
    connections at once, it must not deadlock into "database is locked"."""
    import threading

    from caliban_jupyter.history import History

    for round_ in range(15):
        path = tmp_path / f"h{round_}.sqlite"
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def open_and_read(path=path, errors=errors, barrier=barrier):
            barrier.wait()
            try:
                with History(path) as h:
                    h.jobs("nothing")
            except Exception as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=open_and_read) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors

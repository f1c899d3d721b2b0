"""Shared fakes for the widget unit tests: records and an in-memory group source."""

from __future__ import annotations

import threading

from caliban_jupyter.errors import BackendError
from caliban_jupyter.records import JobRecord


def record(index: int, state: str = "RUNNING", *, lr: str | None = None, attempt: int = 0,
           **changes) -> JobRecord:
    base = JobRecord(
        submission_id=f"sid-{index}-{attempt}", display_name=f"job_{index}", xgroup="g",
        index=index, state=state, backend="local", project="p", region="us-central1",
        image_uri="img:1", args=("--lr", lr or f"0.{index}", "--epochs", "3"),
        labels={"xgroup": "g"}, machine={"machineType": "n1-standard-8"},
        resource_name=f"projects/p/locations/us-central1/customJobs/{index}{attempt}",
        created="2024-05-01T10:00:00.123456789Z", started="2024-05-01T10:00:05Z",
        url=f"http://127.0.0.1:8470/jobs/{index}")
    return base.evolve(**changes) if changes else base


class FakeSource:
    """A GroupSource over a list of records; counts calls, can fail on demand."""

    xgroup = "g"

    def __init__(self, records):
        self.records_ = list(records)
        self.calls = 0
        self.stopped: list[str] = []
        self.resubmitted: list[str] = []
        self.fail_next = False
        self.lock = threading.Lock()

    def set(self, index: int, **changes) -> None:
        with self.lock:
            self.records_ = [r.evolve(**changes) if r.index == index else r
                             for r in self.records_]

    def refresh(self):
        with self.lock:
            self.calls += 1
            if self.fail_next:
                self.fail_next = False
                raise BackendError("the job service is unavailable (HTTP 503)")
            return list(self.records_)

    def stop(self, records):
        self.stopped += [r.display_name for r in records]
        for r in records:
            self.set(r.index, state="CANCELLED")

    def resubmit(self, records):
        self.resubmitted += [r.display_name for r in records]
        new = [r.evolve(submission_id=r.submission_id + "-retry", state="QUEUED",
                        display_name=r.display_name + "-retry1") for r in records]
        with self.lock:
            self.records_ += new
        return new

    def logs(self, record, tail):
        return "\n".join(f"{record.display_name} line {i}" for i in range(tail))

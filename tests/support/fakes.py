"""In-memory stand-ins for a job service and for a job table's group, for unit tests
of the layers above them (the real service path runs against the emulator in
tests/integration)."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from caliban_jupyter.backends.base import PermanentBackendError, TransientBackendError
from caliban_jupyter.errors import BackendError
from caliban_jupyter.records import SID_LABEL
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec


class FakeBackend:
    """In-memory CustomJobs. ``faults(kind)`` decides, per call, what goes wrong:
    None, "429", "503" (refused), "drop" (created, then the answer is lost), "400"."""

    name = "local"
    title = "in-memory job service"
    needs_project = False
    default_project = "p"
    build_modes = frozenset({"package"})
    needs_staging_bucket = False
    prebuilt_executors = False
    local_images = True
    default_output_dir = None
    local_output_dirs = True
    project = "p"
    region = "us-central1"

    @classmethod
    def prepare(cls, settings: Any) -> Any:
        return settings

    @classmethod
    def connect(cls, settings: Any, progress: Any) -> FakeBackend:
        return cls()

    @classmethod
    def local_staging(cls) -> Path | None:
        from caliban_jupyter.history import caliban_home

        return caliban_home() / "fake-staging"

    @classmethod
    def gs_root(cls, settings: Any) -> Path | None:
        return None

    @classmethod
    def notebook_url(cls, output_uri: str, job_url: str | None) -> str | None:
        return None

    def __init__(self, faults: Any = None, page_size: int = 50):
        self.jobs: dict[str, dict[str, Any]] = {}
        self.faults = faults or (lambda kind: None)
        self.page_size = page_size
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.on_create: Any = None

    def _fault(self, kind: str) -> str | None:
        with self.lock:
            self.calls[kind] += 1
            return self.faults(kind)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        fault = self._fault("create")
        if self.on_create:
            self.on_create(body)
        if fault == "429":
            raise TransientBackendError("429", ambiguous=False, status=429)
        if fault == "503":
            raise TransientBackendError("503", ambiguous=True, status=503)
        if fault == "400":
            raise PermanentBackendError("400 machine type n1-bogus is not supported", status=400)
        with self.lock:
            n = next(self.ids)
            job = {**body, "name": f"projects/p/locations/us-central1/customJobs/{n}",
                   "state": "JOB_STATE_QUEUED", "createTime": f"2024-01-01T00:00:{n:06d}Z"}
            self.jobs[job["name"]] = job
        if fault == "drop":
            raise TransientBackendError("dropped", ambiguous=True)
        return dict(job)

    def _pages(self, pred: Any) -> Any:
        matching = [dict(j) for j in list(self.jobs.values()) if pred(j)]
        for start in range(0, max(len(matching), 1), self.page_size):
            if self._fault("list") in ("429", "503"):
                raise TransientBackendError("list failed", ambiguous=False)
            yield from matching[start:start + self.page_size]

    def find_by_submission_id(self, sid: str) -> dict[str, Any] | None:
        return next(self._pages(lambda j: j["labels"].get(SID_LABEL) == sid), None)

    def list_group(self, xgroup: str) -> Any:
        return self._pages(lambda j: j["labels"].get("xgroup") == xgroup)

    def cancel(self, resource_name: str) -> None:
        self.calls["cancel"] += 1
        self.jobs[resource_name]["state"] = "JOB_STATE_CANCELLED"

    def logs(self, resource_name: str, tail: int | None = None) -> str:
        return f"log of {resource_name}\n"

    def job_url(self, resource_name: str) -> str:
        return "http://127.0.0.1:1/ui/jobs/" + resource_name.rsplit("/", 1)[-1]


def specs(n: int, xgroup: str = "g1") -> list[JobSpec]:
    """``n`` one-machine jobs ``job_1``..``job_n`` of ``xgroup``, each with ``--i`` its
    index."""
    return [JobSpec(display_name=f"job_{i}", index=i, region="us-central1",
                    image_uri="127.0.0.1:5000/img@sha256:abc", args=("--i", str(i)),
                    labels={"xgroup": xgroup, "job_name": "job"},
                    machine=MachineSpec("n1-standard-4"), experiment={"i": i})
            for i in range(1, n + 1)]


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


class PluginBackend(FakeBackend):
    """:class:`FakeBackend` as a third job service another package would register (the
    entry-point group ``caliban_jupyter.backends``, name ``fake``): one in-memory service
    per process, so what a process submitted stays listed for its later refreshes."""

    name = "fake"
    title = "fake job service"
    default_project = "fake-project"
    project = "fake-project"
    _shared: PluginBackend | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def connect(cls, settings: Any, progress: Any) -> PluginBackend:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

"""What the real google-cloud-aiplatform SDK sends to Vertex AI for our jobs.

Google itself cannot be reached here, so a small stdlib server on 127.0.0.1 answers like
Vertex and records every request; the tests assert the exact method, path and JSON body
(enums as integers, int64 as strings: the REST transport's wire form).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from caliban_jupyter.backends.base import PermanentBackendError, TransientBackendError
from caliban_jupyter.backends.vertex import VertexBackend
from caliban_jupyter.errors import BackendError
from caliban_jupyter.history import History
from caliban_jupyter.service import track as tracking
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

PARENT = "/v1/projects/proj/locations/us-central1"


class FakeVertex(ThreadingHTTPServer):
    """Records requests; answers creates with the job plus name/state, lists with pages."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.page_size = 10
        self.answer: str | None = None  # e.g. "400", "429", "drop", "slow"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    server: FakeVertex

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        entry = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                 "body": json.loads(raw) if raw else None}
        self.server.requests.append(entry)
        return entry

    def _fault(self) -> bool:
        answer = self.server.answer
        if answer in ("400", "403", "404", "429", "503"):
            status = {"400": "INVALID_ARGUMENT", "403": "PERMISSION_DENIED",
                      "404": "NOT_FOUND", "429": "RESOURCE_EXHAUSTED",
                      "503": "UNAVAILABLE"}[answer]
            self._reply(int(answer), {"error": {"code": int(answer), "status": status,
                                                "message": f"server says {answer}"}})
            return True
        if answer == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if answer == "slow":
            time.sleep(1.5)
        return False

    def do_POST(self) -> None:
        entry = self._record()
        if self._fault():
            return
        if entry["path"].endswith(":cancel"):
            self._reply(200, {})
            return
        job = {**entry["body"], "name": f"projects/123/locations/us-central1/customJobs/"
               f"{9000 + len(self.server.jobs)}", "state": 1,
               "createTime": "2024-05-01T00:00:00Z"}
        self.server.jobs.append(job)
        self._reply(200, job)

    def do_GET(self) -> None:
        entry = self._record()
        if self._fault():
            return
        start = int((entry["query"].get("pageToken") or ["0"])[0])
        page = self.server.jobs[start:start + self.server.page_size]
        out: dict[str, Any] = {"customJobs": page}
        if start + self.server.page_size < len(self.server.jobs):
            out["nextPageToken"] = str(start + self.server.page_size)
        self._reply(200, out)


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    server = FakeVertex()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def backend_for(server: FakeVertex, **options: Any) -> VertexBackend:
    from google.auth.credentials import AnonymousCredentials

    return VertexBackend(project="proj", region="us-central1", endpoint=server.endpoint,
                         credentials=AnonymousCredentials(), **options)


def job(machine: MachineSpec, name: str = "train_1") -> JobSpec:
    return JobSpec(display_name=name, index=1, region="us-central1",
                   image_uri="us-docker.pkg.dev/proj/repo/img@sha256:0123",
                   args=("--lr", "0.01"),
                   labels={"xgroup": "g_1", "job_name": "train", "gpu_enabled": "true",
                           "tpu_enabled": "false"},
                   machine=machine)


def wire(machine_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "displayName": "train_1",
        "labels": {"xgroup": "g_1", "job_name": "train", "gpu_enabled": "true",
                   "tpu_enabled": "false"},
        "jobSpec": {"workerPoolSpecs": [{
            "machineSpec": machine_spec,
            "replicaCount": "1",
            "containerSpec": {"imageUri": "us-docker.pkg.dev/proj/repo/img@sha256:0123",
                              "args": ["--lr", "0.01"]},
        }]},
    }


@pytest.mark.parametrize("machine, expected", [
    (MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 2),
     {"machineType": "n1-standard-8", "acceleratorType": 5, "acceleratorCount": 2}),
    (MachineSpec("ct5lp-hightpu-4t", "TPU_V5_LITEPOD", 4, "2x2"),
     {"machineType": "ct5lp-hightpu-4t", "acceleratorType": 12, "acceleratorCount": 4,
      "tpuTopology": "2x2"}),
    (MachineSpec("n1-highcpu-32"), {"machineType": "n1-highcpu-32"}),
], ids=["gpu", "tpu", "cpu"])
def test_exact_create_request(vertex: FakeVertex, machine: MachineSpec,
                              expected: dict[str, Any]) -> None:
    backend = backend_for(vertex)
    created = backend.create(job(machine).to_custom_job())
    [request] = vertex.requests
    assert request["method"] == "POST"
    assert request["path"] == f"{PARENT}/customJobs"
    assert request["query"] == {"$alt": ["json;enum-encoding=int"]}
    assert request["body"] == wire(expected)
    # What comes back is REST JSON with enum names, ready for a JobRecord.
    assert created["name"] == "projects/123/locations/us-central1/customJobs/9000"
    assert created["state"] == "JOB_STATE_QUEUED"
    assert created["jobSpec"]["workerPoolSpecs"][0]["machineSpec"] == job(
        machine).to_custom_job()["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert backend.job_url(created["name"]) == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/9000/cpu"
        "?project=proj")


def test_group_refresh_is_one_list_call_per_page(vertex: FakeVertex, tmp_path: Any) -> None:
    backend = backend_for(vertex, page_size=10)
    for i in range(25):
        backend.create(job(MachineSpec("n1-standard-4"), name=f"train_{i}").to_custom_job())
    vertex.requests.clear()
    with History(tmp_path / "h.sqlite") as history:
        records = tracking.refresh_group("g_1", backend, history)
    assert len(records) == 25
    # A group the history does not know may be a search: its tuning jobs are listed too
    # (this fake pages every list alike).
    jobs = [r for r in vertex.requests if r["path"].endswith("/customJobs")]
    assert [(r["method"], r["path"]) for r in vertex.requests] == \
        [("GET", f"{PARENT}/customJobs")] * 3 + \
        [("GET", f"{PARENT}/hyperparameterTuningJobs")] * 3
    assert [r["query"].get("pageToken") for r in jobs] == [None, ["10"], ["20"]]
    assert {r["query"]["filter"][0] for r in vertex.requests} == {'labels.xgroup="g_1"'}
    assert {r["query"]["pageSize"][0] for r in vertex.requests} == {"10"}


def test_cancel_request(vertex: FakeVertex) -> None:
    backend_for(vertex).cancel("projects/proj/locations/us-central1/customJobs/77")
    assert [(r["method"], r["path"]) for r in vertex.requests] == [
        ("POST", f"{PARENT}/customJobs/77:cancel")]


@pytest.mark.parametrize("answer, kind, ambiguous, text", [
    ("400", PermanentBackendError, None, "server says 400"),
    ("403", PermanentBackendError, None, "Vertex AI User role"),
    ("404", PermanentBackendError, None, "check --project_id"),
    ("429", TransientBackendError, False, "rate limited"),
    ("503", TransientBackendError, True, "server error 503"),
    ("drop", TransientBackendError, True, "connection dropped"),
    ("slow", TransientBackendError, True, "timed out"),
])
def test_failures_are_classified(vertex: FakeVertex, answer: str, kind: type,
                                 ambiguous: bool | None, text: str) -> None:
    vertex.answer = answer
    backend = backend_for(vertex, timeout=0.5)
    with pytest.raises(kind, match=text) as info:
        backend.create(job(MachineSpec("n1-standard-4")).to_custom_job())
    if ambiguous is not None:
        assert getattr(info.value, "ambiguous", None) is ambiguous


def test_connection_refused_is_not_ambiguous(vertex: FakeVertex) -> None:
    endpoint = vertex.endpoint
    vertex.shutdown()
    vertex.server_close()
    from google.auth.credentials import AnonymousCredentials

    backend = VertexBackend(project="proj", region="us-central1", endpoint=endpoint,
                            credentials=AnonymousCredentials())
    with pytest.raises(TransientBackendError) as info:
        backend.create(job(MachineSpec("n1-standard-4")).to_custom_job())
    assert info.value.ambiguous is False


def test_vertex_logs_point_to_cloud_logging() -> None:
    backend = VertexBackend(project="proj", region="us-central1")
    with pytest.raises(BackendError, match="console.cloud.google.com/logs"):
        backend.logs("projects/proj/locations/us-central1/customJobs/5")


def test_missing_credentials_say_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Any) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    backend = VertexBackend(project="proj", region="us-central1",
                            endpoint="http://127.0.0.1:9")
    with pytest.raises(BackendError, match="gcloud auth application-default login"):
        backend.create(job(MachineSpec("n1-standard-4")).to_custom_job())


def test_sdk_is_not_imported_by_the_backend_modules() -> None:
    import subprocess
    import sys

    code = ("import sys; import caliban_jupyter.backends.local, caliban_jupyter.service.track, "
            "caliban_jupyter.service.submit, caliban_jupyter.cli.status; "
            "print(any(m.startswith(('google.cloud.aiplatform', 'google.api_core', "
            "'google.auth', 'google.protobuf')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# -- runtime settings: the exact bodies the SDK sends for them -------------------------


def planned(tmp_path: Any, **runtime: Any) -> JobSpec:
    """The one job `caliban cloud --image_tag IMG [runtime flags] -- --lr 0.01` plans."""
    from caliban_jupyter.service.plan import CloudRequest, plan_from_request
    from caliban_jupyter.spec.runtime import RuntimeFlags

    gpu_spec = runtime.pop("gpu_spec", None)
    request = CloudRequest(program="print(1)", project_id="proj", region="us-central1",
                           backend="vertex", image_tag=IMAGE, name="train", xgroup="g_1",
                           gpu_spec=gpu_spec, nogpu=gpu_spec is None,
                           script_args=("--lr", "0.01"), cwd=str(tmp_path), env={},
                           runtime=RuntimeFlags(**runtime))
    (spec,) = plan_from_request(request).specs
    return spec


IMAGE = "us-docker.pkg.dev/proj/repo/img@sha256:0123"


def sent(vertex: FakeVertex, spec: JobSpec) -> dict[str, Any]:
    backend_for(vertex).create(spec.to_custom_job())
    [request] = vertex.requests
    assert (request["method"], request["path"]) == ("POST", f"{PARENT}/customJobs")
    body = request["body"]
    assert body["labels"] == {"job_name": "train", "gpu_enabled": body["labels"]["gpu_enabled"],
                              "tpu_enabled": "false", "xgroup": "g_1", "caliban_index": "1",
                              "lr": "0_01"}
    return body["jobSpec"]


def test_exact_request_spot_job(vertex: FakeVertex, tmp_path: Any) -> None:
    spec = planned(tmp_path, spot=True, timeout="90m", restart_on_worker_restart=True)
    assert sent(vertex, spec) == {
        "workerPoolSpecs": [{
            "machineSpec": {"machineType": "n1-highcpu-32"},
            "replicaCount": "1",
            "containerSpec": {"imageUri": IMAGE, "args": ["--lr", "0.01"]},
        }],
        # Strategy.SPOT is 4 on the wire; durations are protobuf Duration JSON.
        "scheduling": {"timeout": "5400s", "restartJobOnWorkerRestart": True, "strategy": 4},
    }


def test_exact_request_flex_start_h100_with_max_wait(vertex: FakeVertex,
                                                      tmp_path: Any) -> None:
    spec = planned(tmp_path, gpu_spec="8xH100", flex_start=True, max_wait="2h",
                   timeout="1d", service_account="trainer@proj.iam.gserviceaccount.com",
                   tensorboard="projects/proj/locations/us-central1/tensorboards/42",
                   enable_web_access=True, reservation="h100-pool")
    assert sent(vertex, spec) == {
        "workerPoolSpecs": [{
            "machineSpec": {
                "machineType": "a3-highgpu-8g", "acceleratorType": 13,  # NVIDIA_H100_80GB
                "acceleratorCount": 8,
                "reservationAffinity": {
                    "reservationAffinityType": 3,  # SPECIFIC_RESERVATION
                    "key": "compute.googleapis.com/reservation-name",
                    "values": ["h100-pool"]},
            },
            "replicaCount": "1",
            "containerSpec": {"imageUri": IMAGE, "args": ["--lr", "0.01"]},
        }],
        "scheduling": {"timeout": "86400s", "strategy": 6, "maxWaitDuration": "7200s"},
        "serviceAccount": "trainer@proj.iam.gserviceaccount.com",
        "tensorboard": "projects/proj/locations/us-central1/tensorboards/42",
        "enableWebAccess": True,
    }


def test_exact_request_one_chief_three_workers_with_env_and_disk(vertex: FakeVertex,
                                                                 tmp_path: Any) -> None:
    spec = planned(tmp_path, gpu_spec="2xV100", workers="3", job_env=(
        "DATA_DIR=/gcs/bucket/data", "WANDB_API_KEY=s3cret"), boot_disk_size="500",
        boot_disk_type="pd-standard", network="projects/123/global/networks/vpc")
    pool = {
        "machineSpec": {"machineType": "n1-standard-8", "acceleratorType": 3,  # V100
                        "acceleratorCount": 2},
        "containerSpec": {"imageUri": IMAGE, "args": ["--lr", "0.01"], "env": [
            {"name": "DATA_DIR", "value": "/gcs/bucket/data"},
            {"name": "WANDB_API_KEY", "value": "s3cret"}]},
        "diskSpec": {"bootDiskType": "pd-standard", "bootDiskSizeGb": 500},
    }
    job_spec = sent(vertex, spec)
    assert job_spec == {
        "workerPoolSpecs": [{**pool, "replicaCount": "1"}, {**pool, "replicaCount": "3"}],
        "network": "projects/123/global/networks/vpc",
    }
    # Environment variables never become labels.
    labels = vertex.requests[0]["body"]["labels"]
    assert not {"data_dir", "wandb_api_key"} & set(labels)
    assert not any("s3cret" in v or "gcs" in v for v in labels.values())


def test_exact_base_output_directory(vertex: FakeVertex, tmp_path: Any) -> None:
    """`--output_dir gs://...` reaches Vertex as each job's baseOutputDirectory, and a group
    rebuilt from Vertex alone still knows where its outputs are."""
    from caliban_jupyter.records import output_uri_of, record_from_custom_job
    from caliban_jupyter.service.plan import CloudRequest, plan_from_request

    (tmp_path / "train.py").write_text("loss = 0.5\n")
    plan = plan_from_request(CloudRequest(
        module="train.py", cwd=str(tmp_path), env={}, nogpu=True, project_id="proj",
        output_dir="gs://my-bucket/runs/", xgroup="grp", name="train", outputs=("loss",),
        experiment_config={"lr": [0.1, 0.2]}))
    backend = backend_for(vertex)
    created = [backend.create(s.with_image("img:1").to_custom_job()) for s in plan.specs]
    names = [s.display_name for s in plan.specs]
    assert [r["body"]["jobSpec"]["baseOutputDirectory"] for r in vertex.requests] == [
        {"outputUriPrefix": f"gs://my-bucket/runs/grp/{name}/"} for name in names]
    rebuilt = [record_from_custom_job(job, backend="vertex") for job in created]
    assert [output_uri_of(r) for r in rebuilt] == [
        f"gs://my-bucket/runs/grp/{name}/" for name in names]

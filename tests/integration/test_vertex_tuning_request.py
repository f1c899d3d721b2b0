"""What the real google-cloud-aiplatform SDK sends to Vertex AI for a search (``--tune``):
the HyperparameterTuningJob create, the get that reads its trials, and the cancel.

Google cannot be reached here, so a stdlib server on 127.0.0.1 answers like Vertex's
``projects.locations.hyperparameterTuningJobs`` (and an empty ``customJobs`` list) and
records every request; the tests assert the exact method, path and JSON body in the REST
transport's wire form (enums as integers, int64 as strings, proto3 defaults left out).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from caliban_jupyter.backends.vertex import VertexBackend
from caliban_jupyter.history import History
from caliban_jupyter.records import SID_LABEL, trial_rows
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.service.tuning import submit_tuning
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec
from caliban_jupyter.spec.search_space import load_search_space

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

PARENT = "/v1/projects/proj/locations/us-central1"
NAME = "projects/123/locations/us-central1/hyperparameterTuningJobs/777"


class FakeVertex(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.job: dict[str, Any] | None = None
        self.state = 4  # JOB_STATE_SUCCEEDED in the get's answers
        self.fail_create = False  # create the job, then answer 503 (an ambiguous failure)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    server: FakeVertex

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
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

    def do_POST(self) -> None:
        entry = self._record()
        if entry["path"].endswith(":cancel"):
            self._reply({})
            return
        self.server.job = {**entry["body"], "name": NAME, "state": 1,
                           "createTime": "2024-05-01T00:00:00Z"}
        if self.server.fail_create:
            self.server.fail_create = False
            data = json.dumps({"error": {"code": 503, "status": "UNAVAILABLE",
                                         "message": "backend error"}}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._reply(self.server.job)

    def do_GET(self) -> None:
        entry = self._record()
        if entry["path"].endswith("/customJobs"):
            self._reply({})  # Vertex lists no trial CustomJobs under the group's labels
            return
        if entry["path"].endswith("/hyperparameterTuningJobs"):
            self._reply({"hyperparameterTuningJobs": [self.server.job]}
                        if self.server.job else {})
            return
        assert self.server.job is not None
        self._reply({**self.server.job, "state": self.server.state, "trials": [
            {"id": "1", "state": 4, "customJob": "projects/123/locations/us-central1/"
             "customJobs/55", "parameters": [{"parameterId": "lr", "value": 0.01},
                                                   {"parameterId": "layers", "value": 2}],
             "finalMeasurement": {"stepCount": "0",
                                  "metrics": [{"metricId": "loss", "value": 0.25}]},
             "startTime": "2024-05-01T00:01:00Z", "endTime": "2024-05-01T00:02:00Z"},
            {"id": "2", "state": 5, "parameters": [{"parameterId": "lr", "value": 0.09},
                                                   {"parameterId": "layers", "value": 1}],
             "infeasibleReason": "no metric"}]})


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    server = FakeVertex()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_exact_tuning_job_requests_through_the_sdk(vertex: FakeVertex, tmp_path: Any) -> None:
    from google.auth.credentials import AnonymousCredentials

    backend = VertexBackend(project="proj", region="us-central1", endpoint=vertex.endpoint,
                            credentials=AnonymousCredentials())
    space = load_search_space({
        "metric": "loss", "goal": "minimize", "trials": 6, "parallel": 2, "max_failed": 2,
        "algorithm": "random", "early_stopping": "median",
        "parameters": {"lr": {"min": 1e-4, "max": 0.1, "scale": "log"},
                       "layers": {"min": 1, "max": 8, "type": "int"},
                       "dropout": {"values": [0.3, 0.0, 0.1]},
                       "optimizer": ["adam", "sgd"]}})
    spec = JobSpec(display_name="train_1", index=1, region="us-central1",
                   image_uri="us-docker.pkg.dev/proj/repo/img@sha256:0123",
                   args=("--epochs", "3"), labels={"xgroup": "g_1", "job_name": "train"},
                   machine=MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 1),
                   output_uri="gs://b/g_1/train_1/")
    with History(tmp_path / "h.sqlite") as history:
        (record,) = submit_tuning(spec, space, backend, history, xgroup="g_1")
        [create] = vertex.requests
        assert (create["method"], create["path"]) == \
            ("POST", f"{PARENT}/hyperparameterTuningJobs")
        sid = create["body"]["labels"][SID_LABEL]
        assert create["body"] == {
            "displayName": "train_1",
            "labels": {"xgroup": "g_1", "job_name": "train", SID_LABEL: sid,
                       "caliban_index": "1"},
            "studySpec": {
                "metrics": [{"metricId": "loss", "goal": 2}],
                "parameters": [
                    {"parameterId": "lr", "doubleValueSpec": {"minValue": 0.0001,
                                                              "maxValue": 0.1},
                     "scaleType": 2},
                    {"parameterId": "layers", "integerValueSpec": {"minValue": "1",
                                                                   "maxValue": "8"},
                     "scaleType": 1},
                    {"parameterId": "dropout", "discreteValueSpec": {"values": [0.0, 0.1,
                                                                                0.3]},
                     "scaleType": 1},
                    {"parameterId": "optimizer",
                     "categoricalValueSpec": {"values": ["adam", "sgd"]}}],
                "algorithm": 3,
                "medianAutomatedStoppingSpec": {}},
            "maxTrialCount": 6, "parallelTrialCount": 2, "maxFailedTrialCount": 2,
            "trialJobSpec": {
                "workerPoolSpecs": [{
                    "machineSpec": {"machineType": "n1-standard-8", "acceleratorType": 5,
                                    "acceleratorCount": 1},
                    "replicaCount": "1",
                    "containerSpec": {"imageUri": "us-docker.pkg.dev/proj/repo/img@sha256:0123",
                                      "args": ["--epochs", "3"]}}],
                "baseOutputDirectory": {"outputUriPrefix": "gs://b/g_1/train_1/"}},
        }
        assert record.resource_name == NAME and record.state == "QUEUED" and record.is_tuning
        assert history.jobs("g_1") == [record]

        # A refresh reads the tuning job by name (its trials come with it).
        vertex.requests.clear()
        (now,) = tracking.refresh_group("g_1", backend, history)
        assert [(r["method"], r["path"]) for r in vertex.requests] == [
            ("GET", f"{PARENT}/customJobs"), ("GET", f"/v1/{NAME}")]
        assert now.state == "SUCCEEDED"
        rows = trial_rows(now)
        assert [r["job"] for r in rows] == [
            "projects/123/locations/us-central1/customJobs/55", None]
        assert [(r["trial"], r["lr"], r["layers"], r["loss"], r["state"], r["best"], r["error"])
                for r in rows] == [("1", 0.01, 2, 0.25, "SUCCEEDED", True, None),
                                   ("2", 0.09, 1, None, "INFEASIBLE", False, "no metric")]

    # With no local history, the group is rebuilt from its labels: the tuning job listed.
    with History(tmp_path / "fresh.sqlite") as history:
        (rebuilt,) = tracking.refresh_group("g_1", backend, history)
    assert rebuilt.is_tuning and rebuilt.resource_name == NAME
    assert rebuilt.request["studySpec"]["metrics"] == [{"metricId": "loss",
                                                         "goal": "MINIMIZE"}]
    assert (rebuilt.request["maxTrialCount"], rebuilt.xgroup, rebuilt.index) == (6, "g_1", 1)

    # `caliban stop` on a tuning group cancels the tuning job.
    vertex.state = 3  # JOB_STATE_RUNNING
    with History(tmp_path / "h2.sqlite") as history:
        submit_tuning(spec.with_labels({"xgroup": "g_2"}), space, backend, history,
                      xgroup="g_2")
        vertex.requests.clear()
        stopped = JobGroup("g_2", backend=backend, history=history).stop()
    assert [r.resource_name for r in stopped] == [NAME]
    assert ("POST", f"/v1/{NAME}:cancel") in [(r["method"], r["path"])
                                              for r in vertex.requests]


def test_a_create_that_may_have_worked_is_looked_up_not_repeated(vertex: FakeVertex,
                                                                 tmp_path: Any) -> None:
    from google.auth.credentials import AnonymousCredentials

    backend = VertexBackend(project="proj", region="us-central1", endpoint=vertex.endpoint,
                            credentials=AnonymousCredentials())
    space = load_search_space({"metric": "loss", "goal": "minimize", "trials": 2,
                               "parameters": {"lr": [0.1, 0.2]}})
    spec = JobSpec(display_name="train_1", index=1, region="us-central1", image_uri="i",
                   args=(), labels={"xgroup": "g_3"}, machine=MachineSpec("n1-standard-4"))
    vertex.fail_create = True
    with History(tmp_path / "h.sqlite") as history:
        (record,) = submit_tuning(spec, space, backend, history, xgroup="g_3")
    assert record.resource_name == NAME and record.state == "QUEUED"
    assert [(r["method"], r["path"]) for r in vertex.requests] == [
        ("POST", f"{PARENT}/hyperparameterTuningJobs"),
        ("GET", f"{PARENT}/hyperparameterTuningJobs")]
    assert vertex.requests[1]["query"]["filter"] == ['labels.xgroup="g_3"']

"""`caliban cloud --build package` to Vertex AI, with no Docker engine: the exact requests
through the real SDK (a recording Vertex stand-in), the sdist through the real
google-cloud-storage client (the GCS emulator), each uploaded once.

Credentials are a real service-account key (google-auth signs with it as it would for
Google; its token endpoint, should one be asked, is the stand-in).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from caliban_jupyter.errors import StagingError
from caliban_jupyter.history import History
from caliban_jupyter.packaging import staging
from caliban_jupyter.spec.executors import PackageRun

from .gcs_faults import DroppingGcs
from .test_vertex_request import PARENT, FakeVertex, Handler

DEFAULT_IMAGE = "python:3.12-slim"


class _TokenHandler(Handler):
    def do_POST(self) -> None:
        if self.path.startswith("/token"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.server.tokens += 1  # type: ignore[attr-defined]
            self._reply(200, {"access_token": "test-token", "expires_in": 3600,
                              "token_type": "Bearer"})
            return
        super().do_POST()


class VertexWithToken(FakeVertex):
    def __init__(self) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), _TokenHandler)
        self.requests: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.page_size = 10
        self.answer = None
        self.tokens = 0

    def creates(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests
                if r["method"] == "POST" and r["path"] == f"{PARENT}/customJobs"]


@pytest.fixture
def vertex():
    import threading

    server = VertexWithToken()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _key(path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "proj", "private_key_id": "k1",
        "private_key": pem, "client_email": "jobs@proj.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri}))
    return path


@pytest.fixture
def project(tmp_path, vertex):
    root = tmp_path / "project"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "train.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    (root / "data").mkdir()
    (root / "data" / "points.csv").write_text("1,2\n3,4\n")
    (root / "exp.json").write_text('{"lr": [0.1, 0.01]}')
    _key(tmp_path / "key.json", f"{vertex.endpoint}/token")
    return root


def _cloud(project: Path, vertex, bucket: str, gcs_endpoint: str, home: Path, xgroup: str
           ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIBAN_", "PROJECT_ID"))}
    env.update(DOCKER_HOST=f"unix://{project}/no-docker.sock", CALIBAN_HOME=str(home),
               STORAGE_EMULATOR_HOST=gcs_endpoint, NO_GCE_CHECK="true")
    return subprocess.run(
        [sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--project_id", "proj",
         "--endpoint", vertex.endpoint, "--cloud_key", str(project.parent / "key.json"),
         "--staging_bucket", f"gs://{bucket}/stage", "--nogpu", "--xgroup", xgroup,
         "--name", "pkg", "-d", "data", "--experiment_config", "exp.json", "trainer.train",
         "--", "--epochs", "3"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120)


def test_package_jobs_on_vertex_upload_once(project, vertex, staging_gcs, tmp_path):
    bucket = staging_gcs.new_bucket()
    first = _cloud(project, vertex, bucket, staging_gcs.endpoint, tmp_path / "home", "g1")
    assert first.returncode == 0, first.stderr
    assert "build: package (no Docker engine answers at" in first.stderr
    objects = staging_gcs.objects(bucket, "stage/caliban/packages/")
    generations = {n: b.generation for n, b in objects.items()}
    names = sorted(Path(n).name for n in objects)
    assert [n.split("-0+")[0] for n in names] == ["caliban_data", "caliban_job"]
    assert first.stderr.count("uploading caliban_") == 2
    # What was uploaded is what was built, byte for byte.
    cache = tmp_path / "home" / "packages"
    for name, blob in objects.items():
        assert blob.download_as_bytes() == (cache / Path(name).name).read_bytes()
    uris = [f"gs://{bucket}/stage/caliban/packages/{n}" for n in names]
    bodies = vertex.creates()
    assert sorted(b["displayName"][-1] for b in bodies) == ["1", "2"]
    for body in bodies:
        [pool] = body["jobSpec"]["workerPoolSpecs"]
        lr = "0.1" if body["displayName"].endswith("_1") else "0.01"
        # No Vertex prebuilt training image is current (spec/executor_images.json): the
        # default is a maintained image whose command installs the package from /gcs/.
        paths = " ".join("/gcs/" + u[len("gs://"):] for u in uris)
        assert pool == {
            "machineSpec": {"machineType": "n1-highcpu-32"},
            "replicaCount": "1",
            "containerSpec": {
                "imageUri": DEFAULT_IMAGE, "args": ["--epochs", "3", "--lr", lr],
                "command": ["sh", "-c", "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install "
                            f"--quiet --disable-pip-version-check {paths} && exec python3 "
                            '-m caliban_job "$@"', "caliban_job"]},
        }
        assert body["labels"]["xgroup"] == "g1"

    second = _cloud(project, vertex, bucket, staging_gcs.endpoint, tmp_path / "home", "g2")
    assert second.returncode == 0, second.stderr
    assert "uploading" not in second.stderr
    assert second.stderr.count("already staged") == 2
    again = staging_gcs.objects(bucket, "stage/caliban/packages/")
    assert {n: b.generation for n, b in again.items()} == generations
    assert len(vertex.creates()) == 4


def test_an_upload_failing_midway_submits_nothing_and_records_why(project, vertex,
                                                                  staging_gcs, tmp_path,
                                                                  monkeypatch):
    from caliban_jupyter.service import track as tracking
    from caliban_jupyter.service.plan import CloudRequest, plan_from_request
    from caliban_jupyter.service.submission import execute

    bucket = staging_gcs.new_bucket()
    monkeypatch.setattr(staging, "UPLOAD_DEADLINE", 1.0)
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-docker.sock")
    request = CloudRequest(module="trainer.train", cwd=str(project), build="package",
                           staging_bucket=f"gs://{bucket}", project_id="proj",
                           endpoint=vertex.endpoint, cloud_key=str(project.parent / "key.json"),
                           nogpu=True, xgroup="g-fail", experiment_config={"lr": [1, 2]},
                           env={})
    plan = plan_from_request(request)
    with DroppingGcs() as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
        with pytest.raises(StagingError) as e:
            execute(plan)
        assert gcs.uploads >= 1
    msg = str(e.value)
    assert "Nothing was submitted: the 2 jobs of group 'g-fail' are recorded as NOT_SUBMITTED" \
        in msg
    assert vertex.creates() == []
    with History() as history:
        jobs = history.jobs("g-fail")
    assert [j.state for j in jobs] == ["NOT_SUBMITTED", "NOT_SUBMITTED"]
    assert all(j.error and j.error.startswith("not submitted: uploading caliban_job-0+")
               for j in jobs)
    assert all(PackageRun.from_pool(j.request["jobSpec"]["workerPoolSpecs"][0]).package_uris
               for j in jobs)

    # Once the bucket answers, resubmit uploads the package kept in the cache and submits.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", staging_gcs.endpoint)
    records = tracking.resubmit("g-fail", settings=plan.settings)
    assert [r.state for r in records] == ["QUEUED", "QUEUED"]
    assert len(vertex.creates()) == 2
    [name] = staging_gcs.objects(bucket)
    assert name.startswith("caliban/packages/caliban_job-0+")

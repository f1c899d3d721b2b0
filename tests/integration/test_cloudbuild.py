"""`--build cloudbuild` through the real google-cloud-build client (REST transport).

Cloud Build cannot run here: a stdlib server on 127.0.0.1 answers CreateBuild and GetBuild
like Cloud Build and records every request; the test asserts the exact CreateBuild request.
While "building" it writes the build's log into the staging bucket (the GCS emulator), as
Cloud Build writes to ``logsBucket``, so the log streaming is the real code reading a real
bucket. The registry check asks the real local registry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from caliban_jupyter import events as ev
from caliban_jupyter.errors import BuildError
from caliban_jupyter.packaging import cloudbuild
from caliban_jupyter.packaging.context import BuildRequest, plan_context
from caliban_jupyter.packaging.staging import GcsStaging
from caliban_jupyter.spec.target import classify_target

BUILDS = "/v1/projects/proj/locations/us-central1/builds"
LOG_URL = "https://console.cloud.google.com/cloud-build/builds;region=us-central1/{id}?project=9"
SUCCESS_LOG = """\
Starting Step #0
Step #0: Already have image (with digest): gcr.io/cloud-builders/docker
Step #0: Sending build context to Docker daemon  10.2kB
Step #0: Step 1/3 : FROM {base}
Step #0:  ---> 4f1c3a2b
Step #0: Step 2/3 : COPY ["code/", "/usr/app/"]
Step #0:  ---> Using cache
Step #0: Step 3/3 : ENTRYPOINT ["python3", "-m", "trainer.train"]
Step #0: Successfully tagged {tag}
Finished Step #0
PUSH
DONE
"""
FAILURE_LOG = """\
Starting Step #0
Step #0: Step 1/3 : FROM {base}
Step #0: Step 2/3 : RUN python3 -m pip install --no-cache-dir -r /tmp/r/requirements.txt
Step #0: ERROR: No matching distribution found for caliban-no-such-package==9.9
Step #0: The command '/bin/sh -c python3 -m pip install' returned a non-zero code: 1
Finished Step #0
ERROR: build step 0 "gcr.io/cloud-builders/docker" failed: step exited with non-zero status: 1
"""


class FakeCloudBuild(ThreadingHTTPServer):
    """Answers CreateBuild/GetBuild; each GetBuild moves a build on and writes its log."""

    daemon_threads = True

    def __init__(self, gcs: Any, outcome: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.gcs, self.outcome = gcs, outcome
        self.requests: list[dict[str, Any]] = []
        self.builds: dict[str, dict[str, Any]] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def advance(self, build: dict[str, Any]) -> None:
        """QUEUED -> WORKING (first half of the log) -> SUCCESS/FAILURE (all of it)."""
        bucket, _, prefix = build["logsBucket"][len("gs://"):].partition("/")
        tag = build["images"][0]
        log = (SUCCESS_LOG if self.outcome == "SUCCESS" else FAILURE_LOG).format(
            base=self.base, tag=tag)
        blob = self.gcs.client().bucket(bucket).blob(f"{prefix}/log-{build['id']}.txt")
        if build["status"] == "QUEUED":
            build["status"] = "WORKING"
            blob.upload_from_string(log[: len(log) // 2])
        else:
            build["status"] = self.outcome
            if self.outcome != "SUCCESS":
                build["statusDetail"] = 'Build step failure: build step 0 "gcr.io/cloud-' \
                                        'builders/docker" failed: step exited with non-zero ' \
                                        'status: 1'
            blob.upload_from_string(log)


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    server: FakeCloudBuild

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                 "body": json.loads(raw) if raw else None}
        self.server.requests.append(entry)
        return entry

    def do_POST(self) -> None:
        entry = self._record()
        build_id = str(uuid.uuid4())
        build = {**entry["body"], "id": build_id, "status": "QUEUED",
                 "logUrl": LOG_URL.format(id=build_id)}
        self.server.builds[build_id] = build
        self._reply({"name": f"projects/9/locations/us-central1/operations/{build_id}",
                     "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild."
                                           "v1.BuildOperationMetadata", "build": build}})

    def do_GET(self) -> None:
        entry = self._record()
        build = self.server.builds[entry["path"].rsplit("/", 1)[1]]
        self.server.advance(build)
        self._reply(build)


def _req(project: Path, registry: str, base: str) -> BuildRequest:
    return BuildRequest(str(project), classify_target("trainer.train", project), gpu=False,
                        base_image=base, registry=registry, image_name="caliban-trainer")


@pytest.fixture
def cloud(staging_gcs, base_image_name) -> Iterator[Any]:
    servers: list[FakeCloudBuild] = []

    def start(outcome: str) -> FakeCloudBuild:
        server = FakeCloudBuild(staging_gcs, outcome)
        server.base = base_image_name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def base_image_name() -> str:
    return "python:3.11-slim"


def _client(server: FakeCloudBuild) -> Any:
    from google.auth.credentials import AnonymousCredentials

    return cloudbuild.cloudbuild_client(AnonymousCredentials(), server.endpoint)


def _build(project, registry, base, server, staging, events):
    return cloudbuild.ensure_image(_req(project, registry, base), project="proj",
                                   region="us-central1", staging=staging,
                                   client=_client(server), progress=events.append,
                                   poll_seconds=0.01)


def test_exact_create_build_request_and_streamed_log(project, registry, staging_gcs, cloud,
                                                     base_image_name):
    server = cloud("SUCCESS")
    bucket = staging_gcs.new_bucket()
    repo = f"{registry}/cb-{uuid.uuid4().hex[:8]}"
    events: list[ev.Event] = []
    result = _build(project, repo, base_image_name, server, GcsStaging(f"gs://{bucket}/st"),
                    events)
    # The same context as `--build docker`: same hash, same tag.
    context = plan_context(_req(project, repo, base_image_name))
    tag = context.tag
    assert (result.tag, result.built, result.pushed) == (tag, True, True)
    obj = f"st/caliban/contexts/caliban-trainer-{context.digest[:16]}.tar.gz"
    create = server.requests[0]
    assert (create["method"], create["path"]) == ("POST", BUILDS)
    assert create["query"] == {"$alt": ["json;enum-encoding=int"]}
    assert create["body"] == {
        "source": {"storageSource": {"bucket": bucket, "object": obj}},
        "steps": [{"name": "gcr.io/cloud-builders/docker", "env": ["DOCKER_BUILDKIT=0"],
                   "args": ["build", "--network=cloudbuild", "--tag", tag, "."]}],
        "timeout": "3600s",
        "images": [tag],
        "logsBucket": f"gs://{bucket}/st/caliban/cloudbuild-logs",
        "options": {"logging": 2},  # GCS_ONLY: the log is read from the bucket
        "tags": ["caliban"],
    }
    gets = [r for r in server.requests[1:]]
    assert {r["method"] for r in gets} == {"GET"} and len(gets) == 2
    assert {r["path"] for r in gets} == {f"{BUILDS}/{result_id(server)}"}
    # The uploaded context is the Docker path's tar, gzipped.
    blob = staging_gcs.client().bucket(bucket).blob(obj)
    assert hashlib.sha256(gzip.decompress(blob.download_as_bytes())).hexdigest() == \
        context.digest
    steps = [e for e in events if isinstance(e, ev.BuildStep)]
    assert [(s.index, s.total, s.cached) for s in steps] == [
        (1, 3, False), (2, 3, False), (2, 3, True), (3, 3, False)]
    assert steps[0].instruction == f"FROM {base_image_name}"
    assert isinstance(events[-1], ev.ImageReady) and events[-1].built and events[-1].pushed
    assert any(isinstance(e, ev.Info) and LOG_URL.format(id=result_id(server)) in e.message
               for e in events)


def result_id(server: FakeCloudBuild) -> str:
    [build_id] = server.builds
    return build_id


def test_a_failed_build_names_the_step_and_gives_the_log_url(project, registry, staging_gcs,
                                                             cloud, base_image_name):
    server = cloud("FAILURE")
    bucket = staging_gcs.new_bucket()
    with pytest.raises(BuildError) as e:
        _build(project, f"{registry}/cb-{uuid.uuid4().hex[:8]}", base_image_name, server,
               GcsStaging(f"gs://{bucket}"), [])
    msg = str(e.value)
    assert "step 2/3 failed: RUN python3 -m pip install" in msg
    assert "ended FAILURE: Build step failure" in msg
    assert "  | ERROR: No matching distribution found for caliban-no-such-package==9.9" in msg
    assert "pip could not install the dependencies" in msg
    assert msg.endswith(f"Cloud Build log: {LOG_URL.format(id=result_id(server))}")


@pytest.mark.docker
def test_nothing_is_built_when_the_registry_has_the_tag(project, registry, staging_gcs, cloud,
                                                        docker_client, base_image):
    from caliban_jupyter.packaging.docker import ensure_image

    repo = f"{registry}/cb-{uuid.uuid4().hex[:8]}"
    pushed = ensure_image(_req(project, repo, base_image), client=docker_client)
    assert pushed.pushed
    server = cloud("SUCCESS")
    events: list[ev.Event] = []
    result = _build(project, repo, base_image, server,
                    GcsStaging(f"gs://{staging_gcs.new_bucket()}"), events)
    assert (result.tag, result.built) == (pushed.tag, False)
    assert server.requests == []
    assert events == [ev.ImageReady(pushed.tag, built=False, pushed=False)]
    docker_client.images.remove(pushed.tag)


def test_cloudbuild_mode_end_to_end_submits_the_built_tag(project, registry, staging_gcs,
                                                          cloud, base_image_name, tmp_path,
                                                          monkeypatch):
    """`--build cloudbuild` through the service layer: context staged, built, jobs run it."""
    import threading

    from caliban_jupyter.service.plan import CloudRequest, plan_from_request
    from caliban_jupyter.service.submission import execute

    from .test_vertex_package import VertexWithToken, _key

    vertex = VertexWithToken()
    threading.Thread(target=vertex.serve_forever, daemon=True).start()
    server = cloud("SUCCESS")
    # Only the client's endpoint changes: everything else is the product's own path.
    client = _client(server)
    monkeypatch.setattr(cloudbuild, "cloudbuild_client", lambda credentials: client)
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    bucket = staging_gcs.new_bucket()
    repo = f"{registry}/cb-{uuid.uuid4().hex[:8]}"
    try:
        plan = plan_from_request(CloudRequest(
            module="trainer.train", cwd=str(project), build="cloudbuild", nogpu=True,
            staging_bucket=f"gs://{bucket}", registry=repo, base_image=base_image_name,
            project_id="proj", endpoint=vertex.endpoint, xgroup="g-cb",
            cloud_key=str(_key(tmp_path / "key.json", f"{vertex.endpoint}/token")), env={}))
        events: list[ev.Event] = []
        [record] = execute(plan, events.append)
    finally:
        vertex.shutdown()
        vertex.server_close()
    tag = plan_context(BuildRequest(str(project), classify_target("trainer.train", project),
                                    gpu=False, base_image=base_image_name, registry=repo,
                                    image_name="caliban-trainer")).tag
    assert server.requests[0]["body"]["images"] == [tag]
    [body] = vertex.creates()
    # (An empty args list does not appear on the wire.)
    assert body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"] == {"imageUri": tag}
    assert record.image_uri == tag and record.state == "QUEUED"
    assert any(isinstance(e, ev.ImageReady) and e.built for e in events)

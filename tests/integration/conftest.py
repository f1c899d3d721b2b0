"""Generic fixtures for tests against the real Docker engine and the local registry.

When the engine, the registry or the base image is missing, tests that ask for them FAIL
with what to run: a skipped docker test would hide a broken setup.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from caliban_jupyter.errors import DockerError

REGISTRY = "127.0.0.1:5000"
_START = "Run scripts/services.sh to install and start the engine, registry and base image."


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """A docker SDK client for the running engine."""
    from caliban_jupyter.packaging import docker_client as connect

    try:
        client = connect()
    except DockerError as e:
        pytest.fail(f"no Docker engine: {e}\n{_START}", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry() -> str:
    """The loopback registry (``127.0.0.1:5000``), checked to answer."""
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5):
            pass
    except (urllib.error.URLError, OSError) as e:
        pytest.fail(f"no registry at {REGISTRY} ({e}). {_START}", pytrace=False)
    return REGISTRY


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The local base image (env CALIBAN_TEST_BASE_IMAGE overrides), checked to exist."""
    from docker.errors import ImageNotFound

    name = os.environ.get("CALIBAN_TEST_BASE_IMAGE", "caliban-base:bookworm-py3")
    try:
        docker_client.images.get(name)  # type: ignore[attr-defined]
    except ImageNotFound:
        pytest.fail(f"base image {name} not found. {_START}", pytrace=False)
    return name


class StagingGcs:
    """A running GCS emulator (gcp-storage-emulator, in memory) on a loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self):
        """A google-cloud-storage client for the emulator (anonymous)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="caliban-test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})

    def new_bucket(self) -> str:
        """A fresh, empty bucket (one per test keeps tests independent)."""
        import uuid

        name = f"caliban-stage-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, object]:
        """``name -> blob`` of every object under ``prefix``."""
        return {b.name: b for b in self.client().list_blobs(bucket, prefix=prefix)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def staging_gcs_server(tmp_path_factory) -> Iterator[StagingGcs]:
    """gcp-storage-emulator started for this test session (stopped at its end)."""
    import subprocess
    import sys
    import time

    port = _free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs-emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gcp_storage_emulator", "start", "--host=127.0.0.1",
             f"--port={port}", "--in-memory", "--quiet"], stdout=out, stderr=subprocess.STDOUT)
    server = StagingGcs(port)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{server.endpoint}/storage/v1/b?project=x", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gcp-storage-emulator did not start; see {log}", pytrace=False)
            time.sleep(0.1)
    yield server
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def staging_gcs(staging_gcs_server: StagingGcs, monkeypatch) -> StagingGcs:
    """The session's GCS emulator, with ``STORAGE_EMULATOR_HOST`` set for this test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", staging_gcs_server.endpoint)
    return staging_gcs_server


@pytest.fixture
def gcs(staging_gcs):
    """A google-cloud-storage client as caliban makes one (``storage.gcs_client``: anonymous
    against ``STORAGE_EMULATOR_HOST``), on the session's GCS emulator."""
    from caliban_jupyter.storage import gcs_client

    return gcs_client(project="test")

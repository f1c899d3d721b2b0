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

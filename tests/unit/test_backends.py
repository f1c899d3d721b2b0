"""The two backends: what each one is, and which one get_backend builds.

No network here: URLs, names and credentials are decided before any call is made (the
calls themselves are tested against the emulator and the Google stand-in).
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from caliban_jupyter.backends import get_backend
from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.backends.vertex import VertexBackend
from caliban_jupyter.errors import UsageError
from caliban_jupyter.settings import Settings

JOB = "projects/p/locations/us-central1/customJobs/42"
SETTINGS = Settings(gpu=False, project_id=None, region="us-central1", backend="local",
                    cloud_key=None, base_image="b", apt_packages=(), registry=None,
                    endpoint="http://127.0.0.1:8470")


def test_local_backend_is_the_emulator_client() -> None:
    from google.auth.credentials import AnonymousCredentials

    backend = LocalBackend(endpoint="http://127.0.0.1:8470/")
    assert (backend.name, backend.project, backend.region) == ("local", "local", "us-central1")
    assert backend.job_url(JOB) == "http://127.0.0.1:8470/ui/jobs/42"
    assert isinstance(backend._credentials(), AnonymousCredentials)
    assert repr(backend) == ("LocalBackend(name='local', endpoint='http://127.0.0.1:8470', "
                             "project='local', region='us-central1')")
    given = object()
    assert LocalBackend(endpoint="http://x", credentials=given)._credentials() is given


def test_vertex_backend_is_google_only() -> None:
    backend = VertexBackend(project="p", region="europe-west4")
    assert backend.name == "vertex"
    assert backend.endpoint == "europe-west4-aiplatform.googleapis.com"
    assert backend.job_url(JOB).startswith(
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/42/")
    assert repr(backend).startswith("VertexBackend(name='vertex', ")
    # No flag turns it into the emulator's client: that is LocalBackend.
    assert "local" not in inspect.signature(VertexBackend).parameters
    assert not hasattr(backend, "local")


def test_get_backend_builds_the_named_backend() -> None:
    local = get_backend(SETTINGS)
    assert type(local) is LocalBackend
    assert (local.endpoint, local.project) == ("http://127.0.0.1:8470", "local")
    assert get_backend(replace(SETTINGS, project_id="mine")).project == "mine"

    vertex = get_backend(replace(SETTINGS, backend="vertex", project_id="p", endpoint=None,
                                 cloud_key="/k.json"))
    assert type(vertex) is VertexBackend
    assert (vertex.name, vertex.project, vertex.cloud_key) == ("vertex", "p", "/k.json")
    with pytest.raises(UsageError, match="--project_id"):
        get_backend(replace(SETTINGS, backend="vertex", endpoint=None))

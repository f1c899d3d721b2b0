"""A Jupyter server with the ``caliban`` extension, driven over HTTP by pytest-jupyter.

``jp_fetch`` requests go through the real tornado stack (authentication, authorization,
routing); the history is a private ``CALIBAN_HOME`` per test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jupyter_server")
pytest.importorskip("pytest_jupyter")

from pytest_jupyter.jupyter_server import *  # noqa: E402,F403 - the jp_* fixtures and hooks
from traitlets.config import Config  # noqa: E402

from caliban_jupyter.history import History  # noqa: E402
from caliban_jupyter.records import JobRecord  # noqa: E402

EXTENSION = "caliban_jupyter.server"


@pytest.fixture
def jp_server_config() -> Config:
    """Only our extension; the refresher quick, so tests see changes soon."""
    return Config({
        "ServerApp": {"jpserver_extensions": {EXTENSION: True}},
        "CalibanApp": {"refresh_interval": 0.3, "max_refresh_interval": 1.0},
    })


@pytest.fixture(autouse=True)
def caliban_home(tmp_path, monkeypatch) -> Iterator[Path]:
    """A private history (and emulator) for each test; no Google metadata probes."""
    home = tmp_path / "caliban-home"
    home.mkdir()
    monkeypatch.setenv("CALIBAN_HOME", str(home))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "CALIBAN_ENDPOINT", "REGION"):
        monkeypatch.delenv(var, raising=False)
    yield home


@pytest.fixture
def api(jp_fetch):
    """``await api("GET", "groups", params=..., body=..., headers=...)`` -> (status, JSON),
    never raising on an HTTP error status."""

    async def call(method: str, *path: str, body: Any = None, params: dict | None = None,
                   headers: dict | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        elif method == "POST":
            kwargs["body"] = b""
        response = await jp_fetch("caliban", "api", *path, params=params, headers=headers,
                                  **kwargs)
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text.strip() else None)

    return call


def job(xgroup: str, index: int, state: str, *, name: str | None = None,
        created: str = "2026-01-01T10:00:00Z", sid: str | None = None) -> JobRecord:
    """A recorded job (no backend needed)."""
    display = name or f"caliban_t_{xgroup}_{index}"
    return JobRecord(
        submission_id=sid or f"{xgroup}-{index}-{display}", display_name=display,
        xgroup=xgroup, index=index, state=state, backend="local", project="local",
        region="us-central1", image_uri="img:1", args=("--lr", str(index)),
        labels={"xgroup": xgroup}, machine={"machineType": "n1-standard-4"},
        resource_name=f"projects/local/locations/us-central1/customJobs/{abs(hash(display))}",
        created=created, request={"displayName": display, "jobSpec": {"big": "x" * 100}})


@pytest.fixture
def seeded(caliban_home) -> dict[str, list[JobRecord]]:
    """Three finished groups in the history (so the refresher has nothing to do)."""
    groups = {
        "g-old": [job("g-old", 1, "SUCCEEDED"), job("g-old", 2, "FAILED")],
        "g-mid": [job("g-mid", 1, "SUCCEEDED")],
        # index 2 failed, then its resubmission succeeded: one job, counted once.
        "g-new": [job("g-new", 1, "SUCCEEDED"), job("g-new", 2, "FAILED"),
                  job("g-new", 2, "SUCCEEDED", name="caliban_t_g-new_2-retry1")],
    }
    with History() as history:
        for i, (xgroup, records) in enumerate(groups.items()):
            history.add_group(xgroup, backend="local", project="local", region="us-central1",
                              created=f"2026-01-0{i + 1}T00:00:00Z")
            for record in records:
                history.put_job(record)
    return groups

"""Helpers for tests that talk to an emulator through the real SDK.

>>> with Emulator(EmulatorConfig(state_dir=tmp_path, port=0)) as emu:
...     client = sdk_client(emu.endpoint)
...     job = client.create_custom_job(parent=PARENT, custom_job=custom_job("a"),
...                                    timeout=TIMEOUT)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PARENT = "projects/caliban-test/locations/us-central1"
TIMEOUT = 10.0  # seconds, for every SDK call: the low-level client has no default


def sdk_client(endpoint: str) -> Any:
    """``aiplatform_v1.JobServiceClient`` on ``endpoint``: REST, anonymous credentials."""
    # NO_GCE_CHECK and NO_PROXY (tests/conftest.py) keep google-auth from probing a
    # metadata server and requests from sending loopback calls through a proxy.
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def custom_job(
    display_name: str,
    *,
    image: str = "127.0.0.1:5000/caliban-test/none:latest",
    args: Sequence[str] = (),
    command: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    machine_type: str = "n1-standard-4",
) -> dict[str, Any]:
    """A CustomJob body (proto-plus dict form, as the SDK takes it)."""
    container: dict[str, Any] = {"image_uri": image, "args": list(args)}
    if command:
        container["command"] = list(command)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "display_name": display_name,
        "labels": dict(labels or {}),
        "job_spec": {"worker_pool_specs": [{
            "machine_spec": {"machine_type": machine_type},
            "replica_count": 1,
            "container_spec": container,
        }]},
    }


def remove_containers(state_dir: Any) -> int:
    """Force-remove every container of the emulator that used ``state_dir``.

    Stopping an emulator leaves its running jobs' containers for the next one to pick up;
    a test that throws its state dir away should call this after stopping it.
    Returns how many containers were removed.
    """
    import sqlite3
    from pathlib import Path

    from caliban_jupyter.emulator import containers

    db = Path(state_dir) / "emulator.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key='instance'").fetchone()
    if row is None:
        return 0
    client = containers.connect()
    try:
        found = containers.find(client, row[0])
        for container in found:
            containers.remove(container)
        return len(found)
    finally:
        client.close()

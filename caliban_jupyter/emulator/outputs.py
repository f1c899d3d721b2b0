"""Each job's output location on the emulator, as Vertex provides it.

Vertex turns ``jobSpec.baseOutputDirectory.outputUriPrefix`` into ``AIP_MODEL_DIR``,
``AIP_CHECKPOINT_DIR`` and ``AIP_TENSORBOARD_LOG_DIR`` and lets the job write the bucket
through its Cloud Storage FUSE mount at ``/gcs/BUCKET``. The emulator does the same with no
Google account: ``gs://BUCKET/PATH`` is the directory ``{state dir}/gcs/BUCKET/PATH``,
bind-mounted at ``/gcs/BUCKET/PATH``, with the same variables. A ``file://`` prefix (a
local ``output_dir``) is that directory, mounted at the same path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..spec.outputs import AIP_DIRS, aip_environment, split_gs

GCS_DIR = "gcs"
FIELD = "job_spec.base_output_directory.output_uri_prefix"


@dataclass(frozen=True)
class OutputMount:
    """Where a job's output location is on this machine and inside its container."""

    host: Path
    container: str
    env: Mapping[str, str]


def output_prefix(body: Mapping[str, Any]) -> str | None:
    """The job's ``outputUriPrefix``, or None."""
    spec = body.get("jobSpec") or {}
    base = spec.get("baseOutputDirectory") if isinstance(spec, Mapping) else None
    prefix = base.get("outputUriPrefix") if isinstance(base, Mapping) else None
    return prefix or None


def prefix_problem(prefix: Any) -> str | None:
    """Why the emulator cannot honour ``prefix`` (None when it can)."""
    if not isinstance(prefix, str) or not prefix:
        return "Must be a non-empty string."
    if prefix.startswith("gs://"):
        bucket, path = split_gs(prefix)
        if not bucket or ".." in path.split("/"):
            return "Must be gs://BUCKET/PATH."
        return None
    if prefix.startswith("file://") and os.path.isabs(unquote(urlsplit(prefix).path)):
        return None
    return "Must be a Cloud Storage URI (gs://BUCKET/PATH), or on the emulator file:///PATH."


def output_root(state_dir: Path) -> Path:
    """The directory holding the emulator's buckets."""
    return Path(state_dir) / GCS_DIR


def host_dir(body: Mapping[str, Any], state_dir: Path) -> Path | None:
    """The job's output directory on this machine (not created), or None."""
    prefix = output_prefix(body)
    if prefix is None or prefix_problem(prefix):
        return None
    if prefix.startswith("gs://"):
        bucket, path = split_gs(prefix)
        return output_root(state_dir) / bucket / path
    return Path(unquote(urlsplit(prefix).path))


def output_mount(body: Mapping[str, Any], state_dir: Path) -> OutputMount | None:
    """The job's mount and ``AIP_*`` variables (None when it asked for no output location).

    Creates the directory (and Vertex's ``model``/``checkpoints``/``logs``), writable by
    the container's user, whoever that is.
    """
    host = host_dir(body, state_dir)
    prefix = output_prefix(body)
    if host is None or prefix is None:
        return None
    if prefix.startswith("gs://"):
        bucket, path = split_gs(prefix)
        container = f"/gcs/{bucket}/{path}".rstrip("/")
        env = aip_environment(prefix)
    else:
        container = str(host)
        env = aip_environment(container)
    for sub in ("", *AIP_DIRS.values()):
        directory = host / sub
        directory.mkdir(parents=True, exist_ok=True)
        # The image's user (uid 1000 in caliban's images, anything in others) writes here,
        # as any job writes through Vertex's FUSE mount.
        directory.chmod(0o777)
    return OutputMount(host=host, container=container, env=env)

"""Where each job writes its outputs, and what ``-o`` may name (pure).

Vertex's contract: a CustomJob's ``jobSpec.baseOutputDirectory.outputUriPrefix`` is a
Cloud Storage location; Vertex then sets ``AIP_MODEL_DIR = {base}/model/``,
``AIP_CHECKPOINT_DIR = {base}/checkpoints/`` and ``AIP_TENSORBOARD_LOG_DIR = {base}/logs/``
in the job, which reaches the bucket through the FUSE mount ``/gcs/BUCKET``. caliban gives
each job ``{output_dir}/{xgroup}/{display_name}/``.

What differs between job services comes from their backend class: the output root when
none is set (the local emulator's ``gs://caliban-local``, which lives in a directory of
the emulator; none for Vertex), and whether a local directory may be one (then it is used
as it is, sent as a ``file://`` URI).
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError

#: Subdirectories Vertex names in its environment variables, relative to the base.
AIP_DIRS = {"AIP_MODEL_DIR": "model/", "AIP_CHECKPOINT_DIR": "checkpoints/",
            "AIP_TENSORBOARD_LOG_DIR": "logs/"}
#: Inside each job's location: the ``-o`` values and their manifest, the executed notebook.
OUTPUTS_DIR = "outputs"
MANIFEST = "manifest.json"
NOTEBOOK = "notebook.ipynb"

# Cloud Storage bucket names: 3-63 characters (222 with dots), lowercase, digits, - _ .
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
HOW_TO_SET = ("set one with --output_dir gs://BUCKET/PREFIX, %config Caliban.output_dir, "
              "CALIBAN_OUTPUT_DIR or \"output_dir\" in .calibanconfig.json")


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    rest = uri[len("gs://"):]
    bucket, _, path = rest.partition("/")
    return bucket, path.strip("/")


def resolve_output_dir(output_dir: str | None, *, default: str | None = None,
                       local_dirs: bool = False, service: str = "Vertex AI",
                       cwd: str = ".") -> str | None:
    """The output root, normalized (no trailing slash), or None (off).

    ``default`` is the job service's root when none is set, ``local_dirs`` whether it
    takes a local directory, ``service`` its name in messages.

    Raises
    ------
    UsageError
        A non-``gs://`` location where only Cloud Storage works, another URI scheme, a bad
        bucket name.
    """
    if not output_dir:
        return default
    value = output_dir.strip()
    if value.startswith("gs://"):
        bucket, path = split_gs(value)
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise UsageError(f"--output_dir {output_dir}: {bucket!r} is not a Cloud Storage "
                             "bucket name (3-63 lowercase letters, digits, '-', '_', '.')")
        if any(part in (".", "..") for part in path.split("/")):
            raise UsageError(f"--output_dir {output_dir}: '.' and '..' are not allowed in a "
                             "Cloud Storage path")
        return f"gs://{bucket}" + (f"/{path}" if path else "")
    if not local_dirs:
        raise UsageError(f"--output_dir {output_dir}: {service} writes job outputs to Cloud "
                         "Storage only; give gs://BUCKET/PREFIX (a local directory works with "
                         "a job service on this machine, such as --backend local)")
    if "://" in value and not value.startswith("file://"):
        raise UsageError(f"--output_dir {output_dir}: use gs://BUCKET/PREFIX or a local "
                         "directory")
    given = Path(os.path.expanduser(value.removeprefix("file://")))
    local = (Path(cwd) / given).resolve() if not given.is_absolute() else given.resolve()
    if local.exists() and not local.is_dir():
        raise UsageError(f"--output_dir {output_dir}: {local} is a file; name a directory")
    return local.as_uri()


def job_output_uri(output_dir: str, xgroup: str, display_name: str) -> str:
    """``{output_dir}/{xgroup}/{display_name}/``: one job's ``outputUriPrefix``."""
    return f"{output_dir.rstrip('/')}/{xgroup}/{display_name}/"


def renamed_output_uri(uri: str, display_name: str) -> str:
    """The same location's sibling for another job (a resubmission's new display name)."""
    parent = uri.rstrip("/").rsplit("/", 1)[0]
    return f"{parent}/{display_name}/"


def aip_environment(uri: str) -> dict[str, str]:
    """The variables Vertex sets for a job whose ``baseOutputDirectory`` is ``uri``."""
    base = uri if uri.endswith("/") else uri + "/"
    return {name: base + sub for name, sub in AIP_DIRS.items()}


def check_output_names(names: Iterable[str]) -> tuple[str, ...]:
    """The ``-o`` names, each a Python identifier, without repeats (order kept)."""
    out = tuple(dict.fromkeys(n.strip() for n in names))
    bad = [n for n in out if not n.isidentifier() or keyword.iskeyword(n)]
    if bad:
        raise UsageError(f"-o {bad[0]}: an output is a variable of the job's program; give "
                         "its name (a Python identifier), e.g. -o loss")
    return out

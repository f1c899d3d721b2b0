"""``/gcs/BUCKET/`` backed by a GCS emulator, when one is configured (``STORAGE_EMULATOR_HOST``).

On Vertex AI every replica sees the project's buckets under ``/gcs/`` (Cloud Storage FUSE,
https://cloud.google.com/vertex-ai/docs/training/cloud-storage-file-system). The emulator
keeps a directory per bucket, ``{state dir}/gcs/BUCKET``, and with a GCS emulator configured:

* before the job starts, it copies into that directory the bucket's objects under every
  prefix the job names: its ``packageUris``, its ``baseOutputDirectory``, and each
  ``gs://BUCKET/...`` or ``/gcs/BUCKET/...`` in its command, args and env values;
* it mounts each named bucket's directory at ``/gcs/BUCKET`` in every replica;
* when the job ends (succeeded, failed, timed out or cancelled) it uploads every file the
  job created or changed there to the bucket.

Without ``STORAGE_EMULATOR_HOST`` nothing is copied: the output directory alone is mounted,
as before (see :mod:`.outputs`), and clients read it from the emulator's output root.

GCS FUSE behaviours not reproduced: objects outside the named prefixes are not visible;
writes reach the bucket when the job ends, not when a file is closed, so another job or a
client does not see them while the job runs; deletions and renames are not propagated (a
file the job removes stays in the bucket); no implicit directories, generations, metadata
or content types are kept; concurrent writers to one object are not arbitrated (the last
upload wins).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .outputs import output_mount, output_prefix, output_root

ENV = "STORAGE_EMULATOR_HOST"
# Bucket names: 3-222 characters of lowercase letters, digits, dashes, underscores, dots.
_NAMED = re.compile(r"(?:gs://|/gcs/)([a-z0-9][a-z0-9._-]{1,221})(?:/([^\s'\";|&]*))?")


class SyncError(Exception):
    """The GCS emulator could not be read or written; the message says which object."""


def configured() -> bool:
    """Whether a GCS emulator is configured for this process."""
    return bool(os.environ.get(ENV))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def named_prefixes(body: Mapping[str, Any]) -> dict[str, set[str]]:
    """``bucket -> object prefixes`` the job names (its pools' specs and its output dir)."""
    spec = body.get("jobSpec") or {}
    texts = list(_strings(spec.get("workerPoolSpecs") or []))
    prefix = output_prefix(body)
    if prefix:
        texts.append(prefix)
    out: dict[str, set[str]] = {}
    for text in texts:
        for bucket, path in _NAMED.findall(text):
            out.setdefault(bucket, set()).add(path or "")
    return out


def _client() -> Any:
    from google.cloud.storage import Client

    # Against STORAGE_EMULATOR_HOST the client uses anonymous credentials by itself.
    return Client()


def _files(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            found[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


class BucketMirror:
    """The local copies of the buckets one job names, and what was in them before it ran.

    Parameters
    ----------
    state_dir
        The emulator's state dir (buckets live under ``gcs/``, snapshots under
        ``gcs-sync/``).
    job_id
        The job whose snapshot this is (kept on disk, so a restarted emulator still
        uploads what a job it picked up wrote).
    """

    def __init__(self, state_dir: Path, job_id: int) -> None:
        self.root = output_root(state_dir)
        self.snapshot_path = Path(state_dir) / "gcs-sync" / f"{job_id}.json"

    def download(self, body: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
        """Copy the named objects in; return the mounts (host dir -> ``/gcs/BUCKET``) and a
        line for the job's log (None when the job names no bucket)."""
        import google.api_core.exceptions as gexc

        named = named_prefixes(body)
        if not named:
            return {}, None
        client = _client()
        count = 0
        for bucket, prefixes in named.items():
            local = self.root / bucket
            local.mkdir(parents=True, exist_ok=True)
            local.chmod(0o777)  # the image's user, whoever it is, writes here
            for prefix in sorted(prefixes):
                try:
                    blobs = list(client.list_blobs(bucket, prefix=prefix))
                    for blob in blobs:
                        if blob.name.endswith("/"):
                            continue
                        target = local / blob.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        blob.download_to_filename(str(target), timeout=60)
                        count += 1
                except gexc.NotFound:
                    continue  # the job may create the bucket's first objects
                except (gexc.GoogleAPICallError, OSError) as e:
                    raise SyncError(f"copying gs://{bucket}/{prefix} from the GCS emulator "
                                    f"at {os.environ.get(ENV)} failed: {e}") from None
        self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        self.snapshot_path.write_text(json.dumps(
            {b: _files(self.root / b) for b in named}))
        mounts = {str(self.root / b): f"/gcs/{b}" for b in sorted(named)}
        where = ", ".join(f"gs://{b}" for b in sorted(named))
        return mounts, (f"/gcs/ holds {count} object(s) copied from {where} (GCS emulator "
                        f"{os.environ.get(ENV)}); what the job writes there is uploaded "
                        "when it ends")

    def mounts(self, body: Mapping[str, Any]) -> dict[str, str]:
        """The mounts of a job whose objects were copied in already (a restart)."""
        for bucket in named_prefixes(body):
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
        return {str(self.root / b): f"/gcs/{b}" for b in sorted(named_prefixes(body))}

    def upload(self) -> str | None:
        """Upload what the job created or changed; a line for the job's log (None when no
        snapshot: the job never started with a GCS emulator)."""
        import google.api_core.exceptions as gexc

        try:
            before = json.loads(self.snapshot_path.read_text())
        except FileNotFoundError:
            return None
        client = _client()
        uploaded: list[str] = []
        for bucket, files in before.items():
            for name, stat in _files(self.root / bucket).items():
                if files.get(name) == list(stat):
                    continue
                try:
                    client.bucket(bucket).blob(name).upload_from_filename(
                        str(self.root / bucket / name), timeout=60)
                except (gexc.GoogleAPICallError, OSError) as e:
                    raise SyncError(f"uploading gs://{bucket}/{name} to the GCS emulator at "
                                    f"{os.environ.get(ENV)} failed: {e}") from None
                uploaded.append(f"gs://{bucket}/{name}")
        self.snapshot_path.unlink(missing_ok=True)
        shown = ", ".join(uploaded[:5]) + (" ..." if len(uploaded) > 5 else "")
        return f"uploaded {len(uploaded)} file(s) the job wrote under /gcs/" + (
            f": {shown}" if uploaded else "")


def _note(log: Path, text: str) -> None:
    from .replicas import note

    note(log, text)


def job_mounts(job_id: int, body: Mapping[str, Any], state_dir: Path, log: Path, *,
               download: bool = False) -> dict[str, str]:
    """Host directory -> path in the container, for every replica of a job.

    With a GCS emulator configured, each bucket the job names is mounted whole at
    ``/gcs/BUCKET`` (its named objects copied in first when ``download``, said in the
    job's ``log``); without one, the job's output directory alone (:mod:`.outputs`).
    """
    mount = output_mount(body, state_dir)
    if not configured():
        return {str(mount.host): mount.container} if mount is not None else {}
    mirror = BucketMirror(state_dir, job_id)
    if download:
        mounts, line = mirror.download(body)
        if line:
            _note(log, line)
    else:
        mounts = mirror.mounts(body)
    if mount is not None and not mount.container.startswith("/gcs/"):
        mounts[str(mount.host)] = mount.container  # a file:// output directory
    return mounts


def upload_written(state_dir: Path, job_id: int, log: Path) -> None:
    """Put what a job wrote under /gcs/ into the GCS emulator's buckets (if configured),
    said in its ``log``; a failed upload is said there too and does not change the job's
    outcome (our choice)."""
    if not configured():
        return
    try:
        line = BucketMirror(state_dir, job_id).upload()
    except SyncError as e:
        line = f"the job's /gcs/ files did not all reach the bucket: {e}"
    if line:
        _note(log, line)

"""Reading job output locations from this machine: Cloud Storage or a local directory.

A :class:`Location` is one job's output directory: :class:`GcsLocation` reads ``gs://``
through google-cloud-storage (imported on first use; ``STORAGE_EMULATOR_HOST`` points it
at an emulator with anonymous credentials), :class:`LocalLocation` a directory (the local
emulator's, or a local ``output_dir``). Both list files with their size and MD5, read one
file, and download one file atomically, so :func:`download_tree` can skip files already
there with the same hash and fetch the rest in parallel.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import CalibanError, UsageError
from .spec.outputs import split_gs

__all__ = ["DownloadReport", "GcsLocation", "LocalLocation", "Location", "RemoteFile",
           "StorageError", "download_tree", "file_md5", "gcs_client"]

#: Parallel transfers: enough to hide Cloud Storage's per-request latency, and within
#: the connection pool google-cloud-storage's HTTP session keeps per host (10).
WORKERS = 8
_CHUNK = 1 << 20


class StorageError(CalibanError):
    """Cloud Storage or a local output directory could not be read."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a location: its path relative to the location, size and MD5 (hex)."""

    path: str
    size: int
    md5: str | None


class Location(Protocol):
    uri: str

    def list(self) -> list[RemoteFile]:
        """Every file under the location (recursively)."""

    def read(self, path: str) -> bytes | None:
        """The file's content, or None when it does not exist."""

    def download(self, path: str, dest: Path) -> None:
        """Write the file to ``dest`` (whole or not at all)."""


def file_md5(path: Path) -> str:
    """The hex MD5 of a local file (what Cloud Storage reports for uploaded objects)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _replace_atomically(dest: Path, write: Callable[[str], None]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalLocation:
    """A directory on this machine."""

    def __init__(self, root: str | os.PathLike[str], uri: str | None = None) -> None:
        self.root = Path(root)
        self.uri = uri or self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalLocation({str(self.root)!r})"

    def list(self) -> list[RemoteFile]:
        out = []
        for directory, _, files in os.walk(self.root):
            for name in files:
                full = Path(directory, name)
                rel = full.relative_to(self.root).as_posix()
                try:
                    out.append(RemoteFile(rel, full.stat().st_size, None))
                except FileNotFoundError:  # removed while listing
                    continue
        return sorted(out, key=lambda f: f.path)

    def md5(self, path: str) -> str:
        return file_md5(self.root / path)

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"cannot read {self.root / path}: {e.strerror}") from None

    def download(self, path: str, dest: Path) -> None:
        import shutil

        def copy(tmp: str) -> None:
            shutil.copyfile(self.root / path, tmp)

        _replace_atomically(dest, copy)


def gcs_client(*, project: str | None = None, cloud_key: str | None = None) -> Any:
    """A google-cloud-storage client: anonymous against ``STORAGE_EMULATOR_HOST``, else a
    service-account key or application-default credentials."""
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "caliban", credentials=AnonymousCredentials())
    if cloud_key:
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_file(cloud_key)
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(f"--cloud_key {cloud_key}: not a readable service-account key "
                             f"file ({e})") from None
        return storage.Client(project=project, credentials=credentials)
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, default_project = google.auth.default()
    except DefaultCredentialsError:
        raise StorageError("no Google credentials to read Cloud Storage: run `gcloud auth "
                           "application-default login`, or pass --cloud_key with a "
                           "service-account key file") from None
    return storage.Client(project=project or default_project, credentials=credentials)


def _gcs_errors() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError
    from requests.exceptions import RequestException

    return (exceptions.GoogleAPIError, GoogleAuthError, RequestException)


class GcsLocation:
    """``gs://BUCKET/PREFIX/`` through google-cloud-storage."""

    def __init__(self, uri: str, client: Any) -> None:
        self.uri = uri
        self.bucket_name, self.prefix = split_gs(uri)
        self._client = client
        self._bucket = client.bucket(self.bucket_name)

    def __repr__(self) -> str:
        return f"GcsLocation({self.uri!r})"

    def _name(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _fail(self, what: str, e: BaseException) -> StorageError:
        return StorageError(f"Cloud Storage: cannot {what} {self.uri} ({type(e).__name__}: "
                             f"{e}); check the bucket and your access to it")

    def list(self) -> list[RemoteFile]:
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            blobs = list(self._client.list_blobs(self.bucket_name, prefix=start))
        except _gcs_errors() as e:
            raise self._fail("list", e) from None
        out = []
        for blob in blobs:
            if blob.name.endswith("/"):
                continue  # a "directory" placeholder object
            md5 = base64.b64decode(blob.md5_hash).hex() if blob.md5_hash else None
            out.append(RemoteFile(blob.name[len(start):], int(blob.size or 0), md5))
        return sorted(out, key=lambda f: f.path)

    def read(self, path: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self._bucket.blob(self._name(path)).download_as_bytes()
        except NotFound:
            return None
        except _gcs_errors() as e:
            raise self._fail(f"read {path} in", e) from None

    def download(self, path: str, dest: Path) -> None:
        blob = self._bucket.blob(self._name(path))
        try:
            # download_to_filename checks the MD5 Cloud Storage reports for the object.
            _replace_atomically(dest, blob.download_to_filename)
        except _gcs_errors() as e:
            raise self._fail(f"download {path} from", e) from None


@dataclass
class DownloadReport:
    """What :func:`download_tree` did: files fetched, files already there, bytes fetched."""

    copied: list[str]
    skipped: list[str]
    bytes: int = 0


def _same(local: Path, remote: RemoteFile, location: Location) -> bool:
    try:
        if local.stat().st_size != remote.size:
            return False
    except FileNotFoundError:
        return False
    md5 = remote.md5 or (location.md5(remote.path) if isinstance(location, LocalLocation)
                         else None)
    return md5 is not None and file_md5(local) == md5


def download_tree(jobs: Iterable[tuple[Location, Callable[[str], Path | None]]], *,
                  workers: int = WORKERS) -> DownloadReport:
    """Fetch every file of each location to where ``place(path)`` says (None: not
    wanted), skipping files already there with the same size and MD5; in parallel."""
    tasks: list[tuple[Location, RemoteFile, Path]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caliban-list") as pool:
        listed = list(pool.map(lambda job: (job[0], job[1], job[0].list()), list(jobs)))
    for location, place, files in listed:
        for remote in files:
            dest = place(remote.path)
            if dest is not None:
                tasks.append((location, remote, dest))
    report = DownloadReport([], [])

    def fetch(task: tuple[Location, RemoteFile, Path]) -> tuple[str, bool, int]:
        location, remote, dest = task
        if _same(dest, remote, location):
            return str(dest), False, 0
        location.download(remote.path, dest)
        return str(dest), True, remote.size

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caliban-fetch") as pool:
        for dest, copied, size in pool.map(fetch, tasks):
            (report.copied if copied else report.skipped).append(dest)
            report.bytes += size
    return report

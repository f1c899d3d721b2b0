"""Staging locations: where code packages and build contexts are uploaded, each once.

A staging location is a Cloud Storage prefix (``--staging_bucket gs://BUCKET[/PREFIX]``,
written with google-cloud-storage) or, for the local emulator without a bucket, a
directory under the emulator's state dir. Files are named by their content hash, so "the
object exists" means "this exact content is staged": an upload is skipped then, and a
create that races another process's is harmless (``ifGenerationMatch=0``).

Layout under the location: ``caliban/packages/`` (sdists), ``caliban/contexts/`` (Cloud
Build contexts), ``caliban/cloudbuild-logs/`` (Cloud Build logs, streamed from there).

google-cloud-storage is imported when a bucket is first used, never at import.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StagingError, UsageError
from ..events import Info, Progress, ignore

T = TypeVar("T")
PACKAGES, CONTEXTS, LOGS = "packages", "contexts", "cloudbuild-logs"
#: Seconds an upload may keep retrying (transient errors) before it counts as failed.
UPLOAD_DEADLINE = 120.0
#: Seconds allowed for each HTTP call.
TIMEOUT = 60.0
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CREDENTIALS_HELP = ("run `gcloud auth application-default login`, or pass --cloud_key with a "
                    "service-account key file")


def parse_gs(uri: str) -> tuple[str, str]:
    """``gs://BUCKET/PRE/FIX`` -> (``BUCKET``, ``PRE/FIX``)."""
    if not uri.startswith("gs://") or not uri[len("gs://"):].split("/", 1)[0]:
        raise UsageError(f"{uri!r} is not a Cloud Storage location: use gs://BUCKET[/PREFIX]")
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    return bucket, prefix.strip("/")


def google_credentials(cloud_key: str | None) -> Any:
    """Credentials for Google APIs called from this machine: the key file, else ADC."""
    if cloud_key:
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_file(
                cloud_key, scopes=list(SCOPES))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise UsageError(f"--cloud_key {cloud_key}: not a readable service-account key "
                             f"file ({e})") from None
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError:
        raise StagingError(f"no Google credentials found: {CREDENTIALS_HELP}") from None
    return credentials


def storage_client(project: str | None, cloud_key: str | None) -> Any:
    """A ``google.cloud.storage.Client``; anonymous against ``STORAGE_EMULATOR_HOST``."""
    from google.cloud.storage import Client

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The library then talks to the emulator with anonymous credentials by itself.
        return Client(project=project or "caliban-local")
    return Client(project=project, credentials=google_credentials(cloud_key))


def _failure(what: str, e: BaseException) -> StagingError:
    """A :class:`StagingError` for ``e``, saying what to do about it."""
    from google.api_core import exceptions as gexc

    text = str(getattr(e, "message", "") or e).strip().splitlines()
    detail = (text[0] if text else type(e).__name__)[:300]
    if isinstance(e, (gexc.Forbidden, gexc.Unauthorized)):
        advice = ("check that your account (or --cloud_key) may write to the bucket (role "
                  "Storage Object User), or choose another --staging_bucket")
    elif isinstance(e, gexc.NotFound):
        advice = ("the bucket does not exist: create it (gcloud storage buckets create "
                  "gs://BUCKET --location REGION) or fix --staging_bucket")
    else:
        advice = "check the network and the bucket, then submit again"
    return StagingError(f"{what} failed: {detail} ({type(e).__name__}); {advice}")


def _errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core.exceptions import GoogleAPICallError, RetryError
    from google.auth.exceptions import GoogleAuthError

    errors: list[type[BaseException]] = [GoogleAPICallError, RetryError, GoogleAuthError,
                                         requests.exceptions.RequestException, OSError]
    try:
        from google.resumable_media.common import DataCorruption, InvalidResponse

        errors += [InvalidResponse, DataCorruption]
    except ImportError:  # pragma: no cover - bundled with google-cloud-storage
        pass
    return tuple(errors)


class GcsStaging:
    """A ``gs://BUCKET[/PREFIX]`` location written with google-cloud-storage."""

    def __init__(self, uri: str, *, project: str | None = None, cloud_key: str | None = None,
                 client: Any = None) -> None:
        self.bucket_name, self.prefix = parse_gs(uri)
        self.root = f"gs://{self.bucket_name}" + (f"/{self.prefix}" if self.prefix else "")
        self._project, self._cloud_key, self._client = project, cloud_key, client

    def __repr__(self) -> str:
        return f"GcsStaging({self.root!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = storage_client(self._project, self._cloud_key)
        return self._client

    def object_name(self, name: str, area: str = PACKAGES) -> str:
        return "/".join(p for p in (self.prefix, "caliban", area, name) if p)

    def uri(self, name: str, area: str = PACKAGES) -> str:
        return f"gs://{self.bucket_name}/{self.object_name(name, area)}"

    def _blob(self, name: str, area: str) -> Any:
        return self.client.bucket(self.bucket_name).blob(self.object_name(name, area))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except _errors() as e:
            raise _failure(what, e) from None

    def exists(self, name: str, area: str = PACKAGES) -> bool:
        blob = self._blob(name, area)
        return self._call(f"checking {self.uri(name, area)}",
                          lambda: bool(blob.exists(timeout=TIMEOUT)))

    def upload(self, path: Path, name: str, area: str = PACKAGES) -> None:
        """Create the object from ``path``; an object already there counts as uploaded."""
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self._blob(name, area)
        retry = DEFAULT_RETRY.with_timeout(UPLOAD_DEADLINE)

        def put() -> None:
            try:
                blob.upload_from_filename(str(path), if_generation_match=0, timeout=TIMEOUT,
                                          retry=retry, content_type="application/gzip")
            except PreconditionFailed:
                pass  # another submission staged the same content first

        self._call(f"uploading {path.name} ({_size(path)}) to {self.uri(name, area)}", put)

    def read(self, name: str, area: str, start: int = 0) -> bytes:
        """The object's bytes from ``start`` (b"" when it does not exist yet)."""
        from google.api_core.exceptions import NotFound, RequestRangeNotSatisfiable

        blob = self._blob(name, area)

        def get() -> bytes:
            try:
                return bytes(blob.download_as_bytes(start=start or None, timeout=TIMEOUT))
            except (NotFound, RequestRangeNotSatisfiable):
                return b""

        return self._call(f"reading {self.uri(name, area)}", get)


class LocalStaging:
    """A directory on this machine (the local emulator reads ``file://`` URIs)."""

    def __init__(self, root: Path) -> None:
        self.root_dir = Path(root)
        self.root = self.root_dir.as_uri()

    def __repr__(self) -> str:
        return f"LocalStaging({str(self.root_dir)!r})"

    def path(self, name: str, area: str = PACKAGES) -> Path:
        return self.root_dir / "caliban" / area / name

    def uri(self, name: str, area: str = PACKAGES) -> str:
        return self.path(name, area).as_uri()

    def exists(self, name: str, area: str = PACKAGES) -> bool:
        return self.path(name, area).is_file()

    def upload(self, path: Path, name: str, area: str = PACKAGES) -> None:
        dest = self.path(name, area)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)
        except OSError as e:
            raise StagingError(f"copying {path.name} to {dest} failed: {e.strerror}; "
                               "check the disk and the permissions of CALIBAN_HOME") from None


Staging = GcsStaging | LocalStaging


def staging_location(staging_bucket: str | None, *, project: str | None = None,
                     cloud_key: str | None = None, local_root: Path | None = None) -> Staging:
    """The bucket when one is given, else ``local_root``: the job service's staging
    directory on this machine (the local backend's ``local_staging()``)."""
    if staging_bucket:
        return GcsStaging(staging_bucket, project=project, cloud_key=cloud_key)
    if local_root is None:
        raise StagingError("no staging bucket and no local staging directory: pass "
                           "--staging_bucket gs://BUCKET[/PREFIX]")
    return LocalStaging(local_root)


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def stage(location: Staging, name: str, build: Callable[[], Path], *, area: str = PACKAGES,
          progress: Progress = ignore) -> tuple[str, bool]:
    """Make ``name`` exist at ``location``: skip when it does, else upload ``build()``.

    Returns the object's URI and whether this call uploaded it.
    """
    uri = location.uri(name, area)
    if location.exists(name, area):
        progress(Info(f"{name}: already staged at {uri}; nothing to upload"))
        return uri, False
    path = build()
    progress(Info(f"uploading {name} ({_size(path)}) to {uri}"))
    location.upload(path, name, area)
    return uri, True


def stage_all(location: Staging, items: Sequence[tuple[str, Callable[[], Path]]], *,
              area: str = PACKAGES, progress: Progress = ignore) -> list[tuple[str, bool]]:
    """:func:`stage` each ``(name, build)`` in order; the existence checks run at once
    (one round trip instead of one per file, on the path of every submission)."""
    from concurrent.futures import ThreadPoolExecutor

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        present = list(pool.map(lambda item: location.exists(item[0], area), items))
    out = []
    for (name, build), here in zip(items, present, strict=True):
        uri = location.uri(name, area)
        if here:
            progress(Info(f"{name}: already staged at {uri}; nothing to upload"))
            out.append((uri, False))
            continue
        path = build()
        progress(Info(f"uploading {name} ({_size(path)}) to {uri}"))
        location.upload(path, name, area)
        out.append((uri, True))
    return out


def location_of(uri: str, *, project: str | None = None, cloud_key: str | None = None
                ) -> tuple[Staging, str, str]:
    """(location, name, area) of a staged object's URI (the inverse of ``uri``)."""
    if uri.startswith("file://"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        path = Path(url2pathname(urlsplit(uri).path))
        return LocalStaging(path.parents[2]), path.name, path.parent.name
    bucket, key = parse_gs(uri)
    parts = key.split("/")
    if len(parts) < 3 or parts[-3] != "caliban":
        raise StagingError(f"{uri} is not a caliban staging object")
    prefix = "/".join(parts[:-3])
    return (GcsStaging(f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}",
                       project=project, cloud_key=cloud_key), parts[-1], parts[-2])


def ensure_staged(uris: Iterable[str], cache: Path, *, project: str | None = None,
                  cloud_key: str | None = None, progress: Progress = ignore) -> None:
    """Upload again, from the local cache, any of ``uris`` missing from its location
    (a resubmission after an upload that failed).

    Raises
    ------
    StagingError
        A package is neither staged nor in the cache: submit again to rebuild it.
    """
    for uri in dict.fromkeys(uris):
        location, name, area = location_of(uri, project=project, cloud_key=cloud_key)
        if location.exists(name, area):
            continue
        cached = cache / name
        if not cached.is_file():
            raise StagingError(f"the package {name} is missing from {uri} and from the local "
                               f"cache {cache}: run the original caliban cloud command (or "
                               "cell) again to build and upload it")
        progress(Info(f"uploading {name} again ({_size(cached)}) to {uri}"))
        location.upload(cached, name, area)

"""``pythonPackageSpec`` in the emulator: install the packages on the executor image, then
``python -m MODULE ARGS``, as Vertex AI does.

The emulator translates such a pool into the container it runs (:func:`container_spec`):
the executor image, a command that pip-installs the packages and then replaces itself
with the module, the pool's args and env. The packages come from their staging location
(a ``file://`` path on this machine, or ``gs://`` through google-cloud-storage, cached
under the state dir) and are copied into the container before it starts
(:func:`put_packages`), so nothing is mounted and nothing is fetched from inside the job.

Emulator jobs have no network: pip installs without an index and without build isolation
(the image's own setuptools builds the sdist), and ``PIP_BREAK_SYSTEM_PACKAGES`` lets it
write to a Debian-style "externally managed" Python. The same variables reach the pips
the package itself runs for its requirements, so those must already be satisfied by the
image.
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .containers import ImageUnavailable

if TYPE_CHECKING:
    from docker.models.containers import Container

#: Where the packages are put inside the job's container.
PACKAGE_DIR = "/tmp/caliban-packages"
# Offline pip, for the package and for whatever pip runs inside the job. pip reads
# PIP_NO_BUILD_ISOLATION the legacy way: "0" turns build isolation off.
OFFLINE_ENV = (("PIP_NO_INDEX", "1"), ("PIP_NO_BUILD_ISOLATION", "0"),
               ("PIP_BREAK_SYSTEM_PACKAGES", "1"), ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
               ("PIP_ROOT_USER_ACTION", "ignore"))


class PackageUnavailable(ImageUnavailable):
    """A package of the job cannot be read from its staging location."""


def _name(uri: str) -> str:
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


def container_spec(pool: Mapping[str, Any]) -> dict[str, Any]:
    """The ``containerSpec`` the emulator runs for ``pool`` (itself for container pools)."""
    spec = pool.get("pythonPackageSpec")
    if not isinstance(spec, Mapping):
        return dict(pool.get("containerSpec") or {})
    paths = " ".join(shlex.quote(f"{PACKAGE_DIR}/{_name(u)}") for u in spec["packageUris"])
    module = str(spec["pythonModule"])
    script = ('PY=$(command -v python3 || command -v python) && '
              f'"$PY" -m pip install --quiet --no-index --no-build-isolation {paths} && '
              f'exec "$PY" -m {shlex.quote(module)} "$@"')
    env = [{"name": k, "value": v} for k, v in OFFLINE_ENV]
    env += [dict(e) for e in spec.get("env") or []]
    return {"imageUri": spec["executorImageUri"], "command": ["sh", "-c", script, module],
            "args": list(spec.get("args") or []), "env": env}


def fetch(uri: str, cache: Path) -> Path:
    """A local copy of the staged package ``uri`` (``file://`` or ``gs://``).

    Raises
    ------
    PackageUnavailable
        The file is missing, or the bucket cannot be read.
    """
    if uri.startswith("file://") or uri.startswith("/"):
        path = Path(url2pathname(urlsplit(uri).path)) if uri.startswith("file://") \
            else Path(uri)
        if not path.is_file():
            raise PackageUnavailable(f"the job's package {path} does not exist on this "
                                     "machine; submit the job again to stage it")
        return path
    if not uri.startswith("gs://"):
        raise PackageUnavailable(f"the emulator reads packages from file:// or gs:// URIs, "
                                 f"not {uri}")
    bucket, _, key = uri[len("gs://"):].partition("/")
    path = cache / "gs" / bucket / key
    if path.is_file():  # staged objects are named by their content: a copy never goes stale
        return path
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.storage import Client

    try:
        # Application-default credentials; anonymous against STORAGE_EMULATOR_HOST.
        client = Client()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        client.bucket(bucket).blob(key).download_to_filename(str(tmp), timeout=60)
        tmp.replace(path)
    except (GoogleAPICallError, GoogleAuthError, OSError) as e:
        raise PackageUnavailable(f"the emulator could not read the job's package {uri}: "
                                 f"{e}") from None
    return path


def fetch_all(pool: Mapping[str, Any], cache: Path) -> list[Path]:
    """Local copies of every package of ``pool`` (none for a container pool)."""
    spec = pool.get("pythonPackageSpec")
    if not isinstance(spec, Mapping):
        return []
    return [fetch(str(u), cache) for u in spec.get("packageUris") or []]


def put_packages(container: Container, paths: list[Path]) -> None:
    """Copy ``paths`` into ``container`` (created, not started) under :data:`PACKAGE_DIR`."""
    if not paths:
        return
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo(PACKAGE_DIR.rsplit("/", 1)[1])
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for path in paths:
            tar.add(str(path), arcname=f"{info.name}/{path.name}", recursive=False)
    container.put_archive(PACKAGE_DIR.rsplit("/", 1)[0], data.getvalue())

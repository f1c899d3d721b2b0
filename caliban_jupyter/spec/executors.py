"""Running a code package instead of a built image (``--build package``). Pure.

Two decisions live here:

* which image runs the package: :func:`resolve_executor` reads the dated list
  (``executor_images.json``) of Vertex AI's prebuilt training images and of maintained
  images that run the package as a ``containerSpec``, accepts a short name
  (``pytorch-2.4-gpu``, ``python-3.12``) or any image URI, and :func:`expiry_warning` says
  when an image is past its end of availability (and refuses one nobody named);
* how a job's request carries the package: :class:`PackageRun` turns the worker pools of a
  CustomJob body into ``pythonPackageSpec`` (a prebuilt executor image) or into a
  ``containerSpec`` whose command installs the package from Vertex's ``/gcs/`` mount (any
  other image with Python), and reads them back for resubmission.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._suggest import choices, maybe_meant

IMAGES_PATH = Path(__file__).with_name("executor_images.json")
#: The module every caliban package runs (``python -m caliban_job ARGS``).
PACKAGE_MODULE = "caliban_job"
MODES = ("cpu", "gpu", "tpu")
# Region prefix -> Artifact Registry multi-region of the prebuilt images (see the data file).
_AREAS = {"us": "us", "northamerica": "us", "southamerica": "us", "europe": "europe",
          "me": "europe", "africa": "europe", "asia": "asia", "australia": "asia"}


@dataclass(frozen=True)
class ExecutorImage:
    """The image a package runs on. ``name`` is the short name when the image is one of
    the catalogued prebuilt images, else ``None`` (an image given by URI)."""

    uri: str
    name: str | None = None
    framework: str | None = None
    version: str | None = None
    accelerator: str | None = None
    end_of_availability: str | None = None
    #: ``pythonPackageSpec`` (a Vertex executor) or ``containerSpec`` (installs the package
    #: from the /gcs/ mount itself).
    runs_as: str = "pythonPackageSpec"
    source: str | None = None
    #: Named by the user (--executor_image), rather than the data file's default.
    explicit: bool = False

    def expired(self, today: _dt.date) -> bool:
        """Whether the list says Vertex no longer offers this image on ``today``."""
        if not self.end_of_availability:
            return False
        return _dt.date.fromisoformat(self.end_of_availability) < today

    def describe(self) -> str:
        if self.name is None:
            return self.uri
        if self.runs_as != "pythonPackageSpec":
            return (f"{self.uri} ({self.name}, available until {self.end_of_availability}; "
                    "installs the package at start)")
        return f"{self.uri} ({self.name}, Vertex prebuilt)"

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "name": self.name, "framework": self.framework,
                "version": self.version, "accelerator": self.accelerator,
                "end_of_availability": self.end_of_availability, "source": self.source,
                "runs_as": self.runs_as}


_DATA: dict[str, Any] | None = None


def executor_images() -> dict[str, Any]:
    """The parsed data file (loaded once per process)."""
    global _DATA
    if _DATA is None:
        with IMAGES_PATH.open(encoding="utf-8") as f:
            _DATA = json.load(f)
    return _DATA


def host_for_region(region: str, data: Mapping[str, Any] | None = None) -> str:
    """The Artifact Registry host of the prebuilt images nearest to ``region``."""
    data = data or executor_images()
    area = _AREAS.get(region.split("-", 1)[0], "us")
    return str(data["hosts"][area])


def _table(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every catalogued image by short name: Vertex's prebuilt ones and maintained ones."""
    return {**data["images"], **data.get("maintained", {})}


def _image(name: str, row: Mapping[str, Any], host: str, *, explicit: bool = False
           ) -> ExecutorImage:
    uri = row["uri"] if "uri" in row else f"{host}/{row['path']}"
    return ExecutorImage(uri=uri, name=name, framework=row["framework"],
                         version=row["version"], accelerator=row["accelerator"],
                         end_of_availability=row.get("end_of_availability"),
                         runs_as=row.get("runs_as", "pythonPackageSpec"),
                         source=row.get("source"), explicit=explicit)


def resolve_executor(value: str | None, *, region: str, mode: str,
                     data: Mapping[str, Any] | None = None) -> ExecutorImage:
    """The executor image for ``--executor_image value`` (``None``: the default for
    ``mode``, one of ``cpu``, ``gpu``, ``tpu``).

    A value with a ``/``, ``:`` or ``@`` is an image reference, used as given (and
    recognised when it is a catalogued image). Anything else is a short name from the
    data file.

    Raises
    ------
    UsageError
        An unknown short name; the message suggests the nearest ones.
    """
    data = data or executor_images()
    images = _table(data)
    host = host_for_region(region, data)
    if value is None or not value.strip():
        name = data["defaults"][mode]
        return _image(name, images[name], host)
    value = value.strip()
    if any(c in value for c in "/:@"):  # an image reference; short names have none of these
        first, _, rest = value.partition("/")
        has_host = bool(rest) and ("." in first or ":" in first or first == "localhost")
        path = rest if has_host else value
        for name, row in images.items():
            if row.get("path") == path or row.get("uri") == value:
                return _image(name, row, first if has_host else host, explicit=True)
        return ExecutorImage(uri=value, explicit=True)
    key = value.lower()
    if key in images:
        return _image(key, images[key], host, explicit=True)
    raise UsageError(
        f"--executor_image {value!r} is not a known Vertex prebuilt training image."
        f"{maybe_meant(key, images)} Known: {choices(sorted(images), limit=8)}; or pass "
        "an image URI (e.g. us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest"
        ", or any image with Python 3 and pip)")


def current_alternative(image: ExecutorImage, today: _dt.date,
                        data: Mapping[str, Any] | None = None) -> ExecutorImage | None:
    """The data file's default for ``image``'s accelerator kind, if it is still available."""
    data = data or executor_images()
    mode = image.accelerator if image.accelerator in MODES else "cpu"
    name = data["defaults"][mode]
    alternative = _image(name, _table(data)[name], host_for_region("us-central1", data))
    return None if alternative.expired(today) else alternative


def expiry_warning(image: ExecutorImage, today: _dt.date) -> str | None:
    """A one-line warning when ``image`` (named with --executor_image) is past its end of
    availability, else None.

    Raises
    ------
    UsageError
        The image is past its end of availability and nobody named it: the data file's
        default expired. The message names the current alternative.
    """
    if not image.expired(today):
        return None
    data = executor_images()
    as_of = data["_meta"].get("as_of", "?")
    alternative = current_alternative(image, today, data)
    instead = (f"the current choice is --executor_image {alternative.name} "
               f"({alternative.uri}, available until {alternative.end_of_availability})"
               if alternative is not None else
               "spec/executor_images.json names no current image: pass one with "
               "--executor_image URI, or update that file")
    what = (f"{image.name} ({image.uri}) reached its end of availability on "
            f"{image.end_of_availability} (spec/executor_images.json, as of {as_of}; "
            f"source: {image.source or 'that file'}): Vertex AI (Gemini Enterprise Agent "
            "Platform) no longer runs it for new jobs")
    if not image.explicit:
        raise UsageError(f"{what}, and it is the default. {instead[0].upper()}{instead[1:]}")
    return f"{what}; {instead}"


# ------------------------------------------------------------------ the request's form


_INSTALL = ("PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "
            "--disable-pip-version-check {paths} && exec python3 -m {module} \"$@\"")
_INSTALL_RE = re.compile(
    r"^PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "
    r"--disable-pip-version-check (?P<paths>.+) && exec python3 -m (?P<module>[\w.]+) "
    r"\"\$@\"$")


def gcs_mount_path(uri: str) -> str:
    """Where Vertex's Cloud Storage FUSE mount shows ``gs://B/O``: ``/gcs/B/O``."""
    if uri.startswith("gs://"):
        return "/gcs/" + uri[len("gs://"):]
    return uri


def _from_mount_path(path: str) -> str:
    return "gs://" + path[len("/gcs/"):] if path.startswith("/gcs/") else path


@dataclass(frozen=True)
class PackageRun:
    """A job that runs a code package rather than an image built for it.

    ``executor`` True: ``pythonPackageSpec`` (Vertex installs ``package_uris`` on the
    job's image, a prebuilt executor image, and runs ``python -m module ARGS``). False:
    ``containerSpec`` on the job's image whose command installs the package from the
    ``/gcs/`` mount and runs it, for images Vertex does not offer as executors.
    """

    package_uris: tuple[str, ...]
    module: str = PACKAGE_MODULE
    executor: bool = True

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` (a CustomJob in REST form) with every pool's ``containerSpec``
        rewritten to run the package; other fields are kept."""
        out = dict(body)
        job_spec = dict(out.get("jobSpec") or {})
        job_spec["workerPoolSpecs"] = [self._pool(p) for p in job_spec.get(
            "workerPoolSpecs") or []]
        out["jobSpec"] = job_spec
        return out

    def _pool(self, pool: Mapping[str, Any]) -> dict[str, Any]:
        pool = dict(pool)
        container = pool.pop("containerSpec", None)
        if container is None:  # an empty placeholder pool
            return pool
        if self.executor:
            spec: dict[str, Any] = {"executorImageUri": container.get("imageUri", ""),
                                    "packageUris": list(self.package_uris),
                                    "pythonModule": self.module,
                                    "args": list(container.get("args") or [])}
            if container.get("env"):
                spec["env"] = list(container["env"])
            pool["pythonPackageSpec"] = spec
        else:
            paths = " ".join(shlex.quote(gcs_mount_path(u)) for u in self.package_uris)
            spec = dict(container)
            spec["command"] = ["sh", "-c", _INSTALL.format(paths=paths, module=self.module),
                               self.module]
            pool["containerSpec"] = spec
        return pool

    @classmethod
    def from_pool(cls, pool: Mapping[str, Any]) -> PackageRun | None:
        """The package a submitted pool runs (the inverse of :meth:`apply`), or None."""
        spec = pool.get("pythonPackageSpec")
        if isinstance(spec, Mapping):
            return cls(tuple(spec.get("packageUris") or ()),
                       str(spec.get("pythonModule") or PACKAGE_MODULE), True)
        command = (pool.get("containerSpec") or {}).get("command") or []
        if len(command) == 4 and command[:2] == ["sh", "-c"]:
            m = _INSTALL_RE.match(command[2])
            if m:
                paths = tuple(_from_mount_path(p) for p in shlex.split(m.group("paths")))
                return cls(paths, m.group("module"), False)
        return None


def pool_image_and_args(pool: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The image a pool runs and its args, whichever way it carries them."""
    spec = pool.get("pythonPackageSpec")
    if isinstance(spec, Mapping):
        return str(spec.get("executorImageUri", "")), tuple(spec.get("args") or ())
    container = pool.get("containerSpec") or {}
    return str(container.get("imageUri", "")), tuple(container.get("args") or ())

"""Which way the jobs become runnable (``--build``), decided before anything is built.

``docker``: an image built on the local engine (:mod:`.docker`). ``package``: no image;
a code package on a prebuilt image (:mod:`.package`). ``cloudbuild``: the Docker path's
context built by Google Cloud Build (:mod:`.cloudbuild`). ``auto`` picks ``docker`` when an
engine answers, else ``package``. (``image`` is what ``--image_tag`` means: nothing to
build.)

:func:`choose_build` is pure: what the job service can run comes from its backend class
(``build_modes``, ``needs_staging_bucket``, ``prebuilt_executors``), and whether a Docker
engine answers from the preflight (:mod:`caliban_jupyter.service.preflight`, which asks
:func:`~caliban_jupyter.packaging.engine.probe_engine`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Protocol

from ..errors import UsageError
from ..settings import Settings
from ..spec.executors import ExecutorImage, expiry_warning, resolve_executor

#: What each mode does, for the refusal of a mode the job service cannot run.
WHAT = {"docker": "builds an image on this machine's Docker engine",
        "package": "runs your code as a package on a prebuilt image",
        "cloudbuild": "builds on Google Cloud Build"}


class ServiceTraits(Protocol):
    """What the build choice asks of a job service (a backend class)."""

    name: str
    title: str
    build_modes: frozenset[str]
    needs_staging_bucket: bool
    prebuilt_executors: bool


@dataclass(frozen=True)
class BuildChoice:
    """How this submission's jobs become runnable.

    Attributes
    ----------
    mode
        ``docker``, ``package``, ``cloudbuild`` or ``image`` (``--image_tag``).
    reason
        Why ``auto`` chose ``mode`` (one line), else None.
    executor
        ``package``: the image the package runs on.
    python_package_spec
        ``package``: True for ``pythonPackageSpec`` (a prebuilt executor image), False for
        a ``containerSpec`` on ``--base_image`` that installs the package itself.
    staging
        Where packages and contexts go: ``gs://...``, or None for the job service's local
        staging directory (its backend's ``local_staging()``).
    warnings
        Things to say before building (e.g. an executor image past its availability).
    """

    mode: str
    reason: str | None = None
    executor: ExecutorImage | None = None
    python_package_spec: bool = True
    staging: str | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"mode": self.mode}
        if self.reason:
            out["reason"] = self.reason
        if self.executor is not None:
            out["executor"] = self.executor.to_json()
            out["runs_as"] = "pythonPackageSpec" if self.python_package_spec else \
                "containerSpec (installs the package from the /gcs/ mount)"
        if self.mode in ("package", "cloudbuild"):
            out["staging"] = self.staging or "the job service's local staging directory"
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def _machine_mode(accelerator_type: str | None) -> str:
    if not accelerator_type:
        return "cpu"
    return "tpu" if accelerator_type.startswith("TPU") else "gpu"


def choose_build(settings: Settings, service: ServiceTraits, *, image_tag: str | None,
                 accelerator_type: str | None, today: _dt.date,
                 engine: tuple[bool, str] | None = None) -> BuildChoice:
    """Decide the build mode for ``settings`` on ``service``; every contradiction is a
    UsageError here, before anything is built or uploaded.

    ``engine`` is the preflight's answer (whether a Docker engine answers, and where); it
    is needed only when ``auto`` may pick ``docker``.
    """
    mode, sources = settings.build, settings.sources
    from_flag = sources.get("build") == "flag"
    if image_tag:
        if mode in ("package", "cloudbuild") and from_flag:
            raise UsageError(f"--image_tag runs an existing image, so there is nothing to "
                             f"build: drop --build {mode}, or drop --image_tag")
        return BuildChoice("image")
    reason = None
    if mode == "auto":
        if settings.executor_image:
            mode = "package"
            reason = f"executor_image {settings.executor_image} given " \
                     f"(from {sources.get('executor_image')})"
        elif "docker" not in service.build_modes:
            mode = "package"
            reason = f"the {service.title} backend runs no image built here"
        else:
            if engine is None:
                raise AssertionError("--build auto needs the preflight's engine answer")
            answers, where = engine
            mode = "docker" if answers else "package"
            reason = (f"a Docker engine answers at {where}" if answers else
                      f"no Docker engine answers at {where}")
    elif settings.executor_image and sources.get("executor_image") == "flag" \
            and mode != "package":
        raise UsageError(f"--executor_image is the prebuilt image of --build package; with "
                         f"--build {mode} the jobs run the image that is built. Drop one "
                         "of the two")
    if mode not in service.build_modes:
        others = " or ".join(f"--build {m}" for m in sorted(service.build_modes))
        raise UsageError(f"--build {mode} {WHAT.get(mode, '')}, which the {service.title} "
                         f"backend cannot run: with --backend {service.name} use {others}")
    if mode == "docker":
        return BuildChoice("docker", reason)
    if mode == "cloudbuild":
        if not settings.registry:
            raise UsageError("--build cloudbuild pushes the image to a registry Vertex AI "
                             "can read: pass --registry REGION-docker.pkg.dev/PROJECT/REPO "
                             "(or set CALIBAN_REGISTRY / \"registry\")")
    if service.needs_staging_bucket and not settings.staging_bucket:
        how = ("pass --staging_bucket gs://BUCKET[/PREFIX] (or set CALIBAN_STAGING_BUCKET, "
               "%config Caliban.staging_bucket, or \"staging_bucket\" in .calibanconfig.json)")
        if reason:
            raise UsageError(f"{reason}, so --build auto chose package, which uploads your "
                             f"code to Cloud Storage for {service.title}, and no staging bucket is "
                             f"set: {how}; or start a Docker engine and use --build docker")
        raise UsageError(f"--build {mode} uploads your code to Cloud Storage for {service.title}, "
                         f"and no staging bucket is set: {how}" +
                         ("" if mode == "cloudbuild" else ", or use --build docker"))
    if mode == "cloudbuild":
        return BuildChoice("cloudbuild", reason, staging=settings.staging_bucket)
    if settings.apt_packages:
        raise UsageError(
            f"apt packages ({', '.join(settings.apt_packages)}, from "
            f"{sources.get('apt_packages')}) need a Docker build: --build package runs your "
            "code on a prebuilt image and cannot install system packages. Use --build "
            "docker or --build cloudbuild, or drop apt_packages for these jobs")
    executor, spec = _executor(settings, service, _machine_mode(accelerator_type))
    warning = expiry_warning(executor, today)
    return BuildChoice("package", reason, executor, spec, settings.staging_bucket,
                       (warning,) if warning else ())


def _executor(settings: Settings, service: ServiceTraits, machine_mode: str
              ) -> tuple[ExecutorImage, bool]:
    """The image a package runs on, and whether it goes as pythonPackageSpec."""
    if settings.executor_image:
        named = resolve_executor(settings.executor_image, region=settings.region,
                                 mode=machine_mode)
        return named, named.runs_as == "pythonPackageSpec"
    if not service.prebuilt_executors:
        # The service runs what this machine has: the base-image setting.
        return ExecutorImage(uri=settings.base_image), True
    if settings.sources.get("base_image", "default") != "default":
        # An image of the user's choice: not a Vertex executor, so it installs the package
        # itself (containerSpec).
        return ExecutorImage(uri=settings.base_image), False
    # The data file's default: a Vertex prebuilt image (pythonPackageSpec) or a maintained
    # one run as a containerSpec that installs the package (when no prebuilt one is current).
    default = resolve_executor(None, region=settings.region, mode=machine_mode)
    return default, default.runs_as == "pythonPackageSpec"

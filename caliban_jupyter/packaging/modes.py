"""Which way the jobs become runnable (``--build``), decided before anything is built.

``docker``: an image built on the local engine (:mod:`.docker`). ``package``: no image;
a code package on a prebuilt image (:mod:`.package`). ``cloudbuild``: the Docker path's
context built by Google Cloud Build (:mod:`.cloudbuild`). ``auto`` picks ``docker`` when an
engine answers, else ``package``. (``image`` is what ``--image_tag`` means: nothing to
build.)

The engine check needs no docker SDK: it asks the engine's ``/_ping`` over its socket, so
a dry run stays fast and works where Docker is not installed at all.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import UsageError
from ..settings import Settings
from ..spec.executors import ExecutorImage, expiry_warning, resolve_executor

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROBE_TIMEOUT = 2.0


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
        Where packages and contexts go: ``gs://...``, or None for the local emulator's
        staging directory.
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
            out["staging"] = self.staging or "local emulator staging directory"
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def probe_engine(env: Mapping[str, str] | None = None,
                 timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Whether a Docker engine answers ``/_ping`` where ``DOCKER_HOST`` says; and where."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    address: str | tuple[str, int]
    if host.startswith("unix://"):
        family, address = socket.AF_UNIX, host[len("unix://"):]
    elif host.startswith("tcp://") and not env.get("DOCKER_TLS_VERIFY"):
        hostport = host[len("tcp://"):].split("/", 1)[0]
        name, _, port = hostport.rpartition(":")
        family, address = socket.AF_INET, (name.strip("[]") or "127.0.0.1", int(port or 2375))
    else:
        return _probe_with_sdk(host), host
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = sock.recv(64)
    except PermissionError:
        return False, (f"{host} (permission denied: add this user to the docker group, or "
                       "point DOCKER_HOST at an engine it may use)")
    except (OSError, ValueError):
        return False, host
    return head.startswith(b"HTTP/1.") and b" 200" in head.split(b"\r\n", 1)[0], host


def _probe_with_sdk(host: str) -> bool:
    """ssh://, TLS and other transports: let the docker SDK try."""
    import docker
    import requests

    try:
        docker.from_env(timeout=int(PROBE_TIMEOUT) + 1).ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
    return True


def _machine_mode(accelerator_type: str | None) -> str:
    if not accelerator_type:
        return "cpu"
    return "tpu" if accelerator_type.startswith("TPU") else "gpu"


def choose_build(settings: Settings, *, image_tag: str | None, accelerator_type: str | None,
                 today: _dt.date, probe: Callable[[], tuple[bool, str]] = probe_engine
                 ) -> BuildChoice:
    """Decide the build mode for ``settings``; every contradiction is a UsageError here,
    before anything is built or uploaded."""
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
        else:
            answers, where = probe()
            mode = "docker" if answers else "package"
            reason = (f"a Docker engine answers at {where}" if answers else
                      f"no Docker engine answers at {where}")
    elif settings.executor_image and sources.get("executor_image") == "flag" \
            and mode != "package":
        raise UsageError(f"--executor_image is the prebuilt image of --build package; with "
                         f"--build {mode} the jobs run the image that is built. Drop one "
                         "of the two")
    if mode == "docker":
        return BuildChoice("docker", reason)
    vertex = settings.backend == "vertex"
    if mode == "cloudbuild":
        if not vertex:
            raise UsageError("--build cloudbuild builds on Google Cloud Build, which the "
                             "local emulator cannot pull from: with --backend local use "
                             "--build docker or --build package")
        if not settings.registry:
            raise UsageError("--build cloudbuild pushes the image to a registry Vertex AI "
                             "can read: pass --registry REGION-docker.pkg.dev/PROJECT/REPO "
                             "(or set CALIBAN_REGISTRY / \"registry\")")
    if vertex and not settings.staging_bucket:
        how = ("pass --staging_bucket gs://BUCKET[/PREFIX] (or set CALIBAN_STAGING_BUCKET, "
               "%config Caliban.staging_bucket, or \"staging_bucket\" in .calibanconfig.json)")
        if reason:
            raise UsageError(f"{reason}, so --build auto chose package, which uploads your "
                             f"code to Cloud Storage for Vertex AI, and no staging bucket is "
                             f"set: {how}; or start a Docker engine and use --build docker")
        raise UsageError(f"--build {mode} uploads your code to Cloud Storage for Vertex AI, "
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
    executor, spec = _executor(settings, _machine_mode(accelerator_type))
    warning = expiry_warning(executor, today)
    return BuildChoice("package", reason, executor, spec, settings.staging_bucket,
                       (warning,) if warning else ())


def _executor(settings: Settings, machine_mode: str) -> tuple[ExecutorImage, bool]:
    """The image a package runs on, and whether it goes as pythonPackageSpec."""
    if settings.executor_image:
        named = resolve_executor(settings.executor_image, region=settings.region,
                                 mode=machine_mode)
        return named, named.runs_as == "pythonPackageSpec"
    if settings.backend == "local":
        # The emulator runs what this machine has: the base-image setting.
        return ExecutorImage(uri=settings.base_image), True
    if settings.sources.get("base_image", "default") != "default":
        # An image of the user's choice: not a Vertex executor, so it installs the package
        # itself (containerSpec).
        return ExecutorImage(uri=settings.base_image), False
    # The data file's default: a Vertex prebuilt image (pythonPackageSpec) or a maintained
    # one run as a containerSpec that installs the package (when no prebuilt one is current).
    default = resolve_executor(None, region=settings.region, mode=machine_mode)
    return default, default.runs_as == "pythonPackageSpec"

"""Build and push images with the docker SDK (never the docker CLI).

:func:`ensure_image` is what the service layer calls: it writes the context once (hashing
it), skips everything when an image with that content hash already exists, and otherwise
builds with the engine's low-level build API and pushes, reporting progress events.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DockerError
from ..events import ImageReady, Info, Progress, Warning_, ignore
from .context import BuildRequest, ContextPlan, write_context
from .streams import BuildStream, PushStream, push_advice

if TYPE_CHECKING:
    import docker

_HOW_TO_START = (
    "Start one: run scripts/services.sh (installs and starts dockerd and the local "
    "registry), or start dockerd / Docker Desktop; if the engine listens elsewhere, set "
    "DOCKER_HOST (e.g. unix:///var/run/docker.sock). Or do without Docker: --build package "
    "runs your code as a package on a prebuilt image, --build cloudbuild builds the image "
    "on Google Cloud Build."
)


@dataclass(frozen=True)
class ImageResult:
    """The image to run, and what this call had to do to get it."""

    tag: str
    built: bool
    pushed: bool


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests
    from docker.errors import DockerException

    return (DockerException, requests.exceptions.RequestException)


def docker_client() -> docker.DockerClient:
    """A client for the engine named by the environment (``DOCKER_HOST`` or the socket).

    Raises
    ------
    DockerError
        No engine answers; the message says how to start one.
    """
    import docker as docker_sdk

    where = os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
    try:
        client = docker_sdk.from_env()
        client.ping()
    except _connection_errors() as e:
        raise DockerError(f"cannot reach a Docker engine at {where}: "
                          f"{str(e).splitlines()[0][:200]}\n{_HOW_TO_START}") from None
    return client


def image_exists(client: docker.DockerClient, tag: str, *, remote: bool) -> bool:
    """Whether ``tag`` exists in its registry (``remote``) or in the local engine.

    The remote check asks the engine for the manifest (``/distribution/<ref>/json``), so it
    uses the engine's credentials (credential helpers included) and costs one round trip.
    Any answer but "not found" counts as "not known to exist": the push will then say
    precisely what is wrong.
    """
    from docker.errors import APIError, NotFound

    try:
        if remote:
            client.api.inspect_distribution(tag)
        else:
            client.api.inspect_image(tag)
    except NotFound:
        return False
    except APIError:
        if not remote:
            raise
        return False
    return True


def build_image(client: docker.DockerClient, context: object, tag: str, base_image: str,
                progress: Progress = ignore) -> BuildStream:
    """Build the tar ``context`` (a readable binary file) as ``tag``; return the parsed stream.

    Raises
    ------
    BuildError
        A step failed; the message names it, shows its last output lines and what to do.
    DockerError
        The engine refused the build or the connection broke.
    """
    stream = BuildStream(progress, base_image)
    try:
        for chunk in client.api.build(
            fileobj=context, custom_context=True, encoding="identity", decode=True,
            rm=True, forcerm=True, network_mode="host", tag=tag, pull=False,
        ):
            stream.feed(chunk)
    except _connection_errors() as e:
        raise DockerError(f"the Docker engine failed while building {tag}: {e}") from None
    stream.close()
    if stream.image_id is None and not stream.steps:
        raise stream.error("the engine reported no build steps")
    return stream


def push_image(client: docker.DockerClient, tag: str, progress: Progress = ignore) -> None:
    """Push ``tag`` (``registry/name:tag``), reporting byte progress.

    Raises
    ------
    PushError
        The registry refused (the message says how to authenticate) or the push failed.
    """
    repository, _, version = tag.rpartition(":")
    stream = PushStream(progress, repository)
    try:
        for chunk in client.api.push(repository, tag=version, stream=True, decode=True):
            stream.feed(chunk)
    except _connection_errors() as e:
        message = getattr(e, "explanation", None) or str(e)
        raise stream.error(str(message)) from None


#: A build context larger than this gets a heads-up before it is sent to the engine.
LARGE_CONTEXT_BYTES = 500 * 1000 * 1000


def large_context_warning(size: int) -> str | None:
    """One line when a context of ``size`` bytes is large enough to make builds slow."""
    if size <= LARGE_CONTEXT_BYTES:
        return None
    return (f"the build context is {size / 1e6:.0f} MB (over {LARGE_CONTEXT_BYTES // 10**6} "
            "MB): sending it to the Docker engine takes a while, and every change rebuilds "
            "a large layer. Leave data out with .dockerignore and read it from storage in "
            "the job, or pass only the directories the job needs with --dir")


def ensure_image(req: BuildRequest, progress: Progress = ignore, *,
                 client: docker.DockerClient | None = None) -> ImageResult:
    """Make sure the image for ``req`` exists (and is pushed when ``req.registry`` is set).

    The tag is the content hash of the build context, so an unchanged resubmission neither
    builds nor pushes: it reports ``ImageReady(built=False, pushed=False)``.

    Raises
    ------
    UsageError
        Bad request (see :func:`~caliban_jupyter.packaging.context.write_context`).
    DockerError, BuildError, PushError
        No engine, a failing build step, a refused push; each message says what to do.
    """
    client = client or docker_client()
    with tempfile.TemporaryFile(prefix="caliban-context-") as tmp:
        plan: ContextPlan = write_context(req, tmp)
        for warning in plan.warnings:
            progress(Warning_(warning))
        tag, remote = plan.tag, req.registry is not None
        try:
            if image_exists(client, tag, remote=remote):
                progress(ImageReady(tag, built=False, pushed=False))
                return ImageResult(tag, built=False, pushed=False)
            built = False
            if not remote or not image_exists(client, tag, remote=False):
                progress(Info(f"building {tag} ({len(plan.files)} files, "
                              f"{plan.size / 1e6:.1f} MB context)"))
                notice = large_context_warning(plan.size)
                if notice:
                    progress(Warning_(notice))
                tmp.seek(0)
                build_image(client, tmp, tag, plan.spec.base_image, progress)
                built = True
        except _connection_errors() as e:
            raise DockerError(f"the Docker engine failed while checking or building {tag}: "
                              f"{e}") from None
    pushed = False
    if remote:
        push_image(client, tag, progress)
        pushed = True
    progress(ImageReady(tag, built=built, pushed=pushed))
    return ImageResult(tag, built=built, pushed=pushed)


__all__ = ["ImageResult", "build_image", "docker_client", "ensure_image", "image_exists",
           "push_advice", "push_image"]

"""Is an existing image (``--image_tag``) there to run? Checked before anything is submitted.

A job whose image does not exist is created, recorded, then fails with an empty log. So the
image is looked up first: for the local emulator in the Docker engine that runs its jobs
(then in the image's registry, which the emulator would pull from); for Vertex AI in its
registry, through the engine when one answers (it holds the registry credentials, helpers
included) or else with one anonymous request to the registry's HTTP API. Only a definite
"no such image" stops the submission; a registry that cannot be asked (credentials,
network) gets a warning and the submission goes on, since the job service may well read it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from ..errors import DockerError, UsageError
from ..events import Progress, Warning_, ignore

if TYPE_CHECKING:
    import docker

# What a registry may answer for a manifest request (Docker v2, OCI; lists and indexes).
_MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def require_image(image: str, *, local: bool, progress: Progress = ignore,
                  client: docker.DockerClient | None = None) -> None:
    """Raise :class:`UsageError` when ``image`` definitely does not exist.

    Parameters
    ----------
    image
        The reference, ``[registry/]name[:tag|@digest]``.
    local
        True for the local emulator: the image may live only in this machine's engine.
    client
        A docker SDK client (default: one for the engine of the environment).
    """
    from docker.errors import APIError, NotFound

    from .docker import _connection_errors, docker_client

    if client is None:
        try:
            client = docker_client()
        except DockerError:
            if local:
                raise  # the emulator runs jobs on this engine: nothing can run without it
            client = None
    if client is not None:
        api = client.api
        try:
            if local:
                try:
                    api.inspect_image(image)
                    return
                except NotFound:
                    pass  # not on this machine: the emulator would pull it
            api.inspect_distribution(image)
            return
        except NotFound:
            raise _missing(image, local) from None
        except APIError as e:
            if e.status_code == 400 or "invalid reference" in str(e.explanation or ""):
                raise UsageError(f"--image_tag {image}: not a valid image reference "
                                 f"({e.explanation}); write [REGISTRY/]NAME:TAG") from None
            _cannot_check(image, str(e.explanation or e), progress)
            return
        except _connection_errors() as e:
            _cannot_check(image, str(e), progress)
            return
    found = _ask_registry(image)
    if found is False:
        raise _missing(image, local)
    if found is None:
        _cannot_check(image, "no Docker engine here, and the registry wants credentials "
                      "or did not answer", progress)


def _missing(image: str, local: bool) -> UsageError:
    where = ("neither on this machine's Docker engine nor in its registry" if local
             else f"in its registry ({_split(image)[0]})")
    return UsageError(f"--image_tag {image}: no such image {where}. Fix the name or tag, "
                      f"push it first (`docker push {image}`), or leave out --image_tag to "
                      "build the image; nothing was submitted")


def _cannot_check(image: str, why: str, progress: Progress) -> None:
    progress(Warning_(f"could not check that {image} exists ({why.strip()[:200]}); "
                      "submitting anyway: if it does not, the jobs fail and `caliban "
                      "status` shows why"))


def _split(image: str) -> tuple[str, str, str]:
    """(registry host, repository path, tag or digest) of a reference, Docker's way."""
    from docker.auth import split_repo_name
    from docker.utils import parse_repository_tag

    repository, reference = parse_repository_tag(image)
    host, path = split_repo_name(repository)
    if host == "docker.io":
        host = "registry-1.docker.io"
        path = path if "/" in path else f"library/{path}"
    return host, path, reference or "latest"


def _ask_registry(image: str, timeout: float = 10.0) -> bool | None:
    """The registry's HTTP API answer for the manifest: True, False (404), None (unknown)."""
    host, path, reference = _split(image)
    scheme = "http" if host.split(":")[0] in _LOOPBACK or host.startswith("[::1]") else "https"
    request = urllib.request.Request(f"{scheme}://{host}/v2/{path}/manifests/{reference}",
                                     method="HEAD",
                                     headers={"Accept": ", ".join(_MANIFEST_TYPES)})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as e:
        return False if e.code == 404 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None

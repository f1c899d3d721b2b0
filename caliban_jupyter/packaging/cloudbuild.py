"""``--build cloudbuild``: the Docker path's build context, built by Google Cloud Build.

The context is exactly the one ``--build docker`` sends to the local engine
(:func:`~caliban_jupyter.packaging.context.write_context`: same files, same Dockerfile,
same content hash, so the same image tag). It is gzipped deterministically, uploaded once
to the staging location, and built by one ``docker build`` step tagged with the content
hash; Cloud Build pushes the tag. Nothing is built when the registry already has the tag.

The build's log is written to the staging bucket and streamed from there while the build
runs, through the same parser as a local build's output, so every front end shows the
same build steps. A failed build raises a :class:`~caliban_jupyter.errors.BuildError`
naming the failing step, its last lines and the build's log URL.

google-cloud-build (``google.cloud.devtools.cloudbuild_v1``, REST transport) is imported
when a build is started, never at import.
"""

from __future__ import annotations

import base64
import gzip
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from ..errors import BuildError
from ..events import ImageReady, Info, Progress, Warning_, ignore
from .context import TAG_LENGTH, BuildRequest, write_context
from .docker import ImageResult
from .staging import CONTEXTS, LOGS, GcsStaging, stage
from .streams import BuildStream, registry_host

#: The Docker builder Cloud Build documents for ``docker build`` steps.
BUILDER = "gcr.io/cloud-builders/docker"
BUILD_TIMEOUT_SECONDS = 3600
TERMINAL = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")
_MANIFESTS = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))


def registry_has(tag: str, credentials: Any = None, timeout: float = 10.0) -> bool:
    """Whether ``tag`` (``host/repo:tag``) exists, asked of the registry's v2 API.

    Google registries get the caller's OAuth token; any answer but 200 counts as "not
    known to exist" (the build then runs, and its push says what is wrong).
    """
    host = registry_host(tag)
    if host == "docker.io":
        return False
    repository, _, version = tag[len(host) + 1:].rpartition(":")
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    url = f"{'http' if local else 'https'}://{host}/v2/{repository}/manifests/{version}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": _MANIFESTS})
    if credentials is not None and not local:
        import google.auth.transport.requests

        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        token = base64.b64encode(f"oauth2accesstoken:{credentials.token}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def cloudbuild_client(credentials: Any, endpoint: str | None = None) -> Any:
    """A ``CloudBuildClient`` (REST transport); ``endpoint`` overrides Google's."""
    from google.api_core.client_options import ClientOptions
    from google.cloud.devtools import cloudbuild_v1

    return cloudbuild_v1.CloudBuildClient(
        credentials=credentials, transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None)


def build_request(tag: str, staging: GcsStaging, context_object: str) -> Any:
    """The ``Build`` Cloud Build is asked to run for ``tag``."""
    from google.cloud.devtools import cloudbuild_v1 as cb
    from google.protobuf import duration_pb2

    logs = staging.object_name("", LOGS).rstrip("/")
    return cb.Build(
        source=cb.Source(storage_source=cb.StorageSource(bucket=staging.bucket_name,
                                                         object_=context_object)),
        steps=[cb.BuildStep(
            name=BUILDER,
            # The classic builder prints "Step i/n : ..." lines, which the progress parser
            # reads as it reads a local build's; --network=cloudbuild lets RUN steps reach
            # the build's own credentials (private package indexes).
            env=["DOCKER_BUILDKIT=0"],
            args=["build", "--network=cloudbuild", "--tag", tag, "."],
        )],
        images=[tag],
        logs_bucket=f"gs://{staging.bucket_name}/{logs}",
        options=cb.BuildOptions(logging=cb.BuildOptions.LoggingMode.GCS_ONLY),
        timeout=duration_pb2.Duration(seconds=BUILD_TIMEOUT_SECONDS),
        tags=["caliban"],
    )


def _api_failure(what: str, e: BaseException) -> BuildError:
    message = str(getattr(e, "message", "") or e).strip().splitlines()
    detail = message[0][:300] if message else type(e).__name__
    return BuildError(f"Cloud Build: {what} failed: {detail}. Check that the Cloud Build API "
                      "is enabled in the project and that your account (or --cloud_key) may "
                      "start builds (role Cloud Build Editor), then submit again")


def _api_errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import GoogleAuthError

    return (GoogleAPICallError, GoogleAuthError, requests.exceptions.RequestException)


class _LogFollower:
    """Feeds the new bytes of a build's log object to a :class:`BuildStream`."""

    def __init__(self, staging: GcsStaging, build_id: str, stream: BuildStream) -> None:
        self.staging, self.name, self.stream = staging, f"log-{build_id}.txt", stream
        self.offset = 0
        self.partial = b""

    def poll(self) -> None:
        data = self.staging.read(self.name, LOGS, start=self.offset)
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self._line(line.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.partial:
            self._line(self.partial.decode("utf-8", "replace"))
            self.partial = b""

    def _line(self, line: str) -> None:
        # Cloud Build prefixes each line of a step's output with "Step #N: ".
        if line.startswith("Step #") and ": " in line:
            line = line.split(": ", 1)[1]
        self.stream.feed({"stream": line + "\n"})


def ensure_image(req: BuildRequest, *, project: str, region: str, staging: GcsStaging,
                 client: Any = None, credentials: Any = None, progress: Progress = ignore,
                 poll_seconds: float = 2.0, sleep: Callable[[float], None] = time.sleep
                 ) -> ImageResult:
    """Make sure the image of ``req`` is in its registry, building it on Cloud Build.

    Raises
    ------
    UsageError
        What :func:`~caliban_jupyter.packaging.context.write_context` refuses.
    StagingError
        The context could not be uploaded.
    BuildError
        Cloud Build refused the build or the build failed (the message names the step,
        shows its last output and the build's log URL).
    """
    with tempfile.TemporaryDirectory(prefix="caliban-cloudbuild-") as tmp:
        path = Path(tmp) / "context.tar.gz"
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                    mtime=0) as gz:
            plan = write_context(req, cast(IO[bytes], gz))
        for warning in plan.warnings:
            progress(Warning_(warning))
        tag = plan.tag
        if registry_has(tag, credentials):
            progress(ImageReady(tag, built=False, pushed=False))
            return ImageResult(tag, built=False, pushed=False)
        name = f"{req.image_name}-{plan.digest[:TAG_LENGTH]}.tar.gz"
        uri, _ = stage(staging, name, lambda: path, area=CONTEXTS, progress=progress)
    client = client or cloudbuild_client(credentials)
    build_id, log_url = _start(client, project, region, build_request(
        tag, staging, staging.object_name(name, CONTEXTS)), progress)
    progress(Info(f"building {tag} on Cloud Build ({len(plan.files)} files, "
                  f"{plan.size / 1e6:.1f} MB context from {uri}); log: {log_url}"))
    status, detail, stream = _follow(client, project, region, build_id, staging,
                                     plan.spec.base_image, progress, poll_seconds, sleep)
    if status != "SUCCESS":
        error = stream.error(f"Cloud Build {build_id} ended {status}"
                             + (f": {detail}" if detail else ""))
        raise BuildError(f"{error}\nCloud Build log: {log_url}")
    progress(ImageReady(tag, built=True, pushed=True))
    return ImageResult(tag, built=True, pushed=True)


def _start(client: Any, project: str, region: str, build: Any, progress: Progress
           ) -> tuple[str, str]:
    from google.cloud.devtools import cloudbuild_v1 as cb

    request = cb.CreateBuildRequest(parent=f"projects/{project}/locations/{region}",
                                    build=build)
    try:
        operation = client.create_build(request=request, timeout=60.0)
        started = operation.metadata.build
    except _api_errors() as e:
        raise _api_failure("starting the build", e) from None
    return str(started.id), str(started.log_url)


def _follow(client: Any, project: str, region: str, build_id: str, staging: GcsStaging,
            base_image: str, progress: Progress, poll_seconds: float,
            sleep: Callable[[float], None]) -> tuple[str, str, BuildStream]:
    """Stream the log until the build ends; (status, status detail, parsed stream)."""
    from google.cloud.devtools import cloudbuild_v1 as cb

    stream = BuildStream(progress, base_image)
    follower = _LogFollower(staging, build_id, stream)
    name = f"projects/{project}/locations/{region}/builds/{build_id}"
    deadline = time.monotonic() + BUILD_TIMEOUT_SECONDS + 600
    while True:
        try:
            build = client.get_build(request=cb.GetBuildRequest(name=name), timeout=60.0)
        except _api_errors() as e:
            raise _api_failure(f"following build {build_id}", e) from None
        status = cb.Build.Status(build.status).name
        follower.poll()
        if status in TERMINAL:
            follower.close()
            stream.close()
            return status, str(build.status_detail or ""), stream
        if time.monotonic() > deadline:
            raise BuildError(f"Cloud Build {build_id} is still {status} after its timeout; "
                             f"see {build.log_url}")
        sleep(poll_seconds)

"""The emulator's use of the local Docker engine (docker SDK): one container per job.

Containers carry labels naming the emulator instance (one per state dir) and the job id,
so a restarted emulator finds the containers of its running jobs again, and two emulators
with different state dirs never touch each other's containers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DockerError

if TYPE_CHECKING:  # the docker SDK is imported only when a job actually runs
    from docker import DockerClient
    from docker.models.containers import Container

LABEL_INSTANCE = "caliban.emulator.instance"
LABEL_JOB = "caliban.emulator.job"
LABEL_NAME = "caliban.emulator.name"
LABEL_REPLICA = "caliban.emulator.replica"
CHIEF = "workerpool0-0"


class ImageUnavailable(Exception):
    """The job's image is neither local nor pullable; the message says why."""


def connect(timeout: int = 120) -> DockerClient:
    """A client for the local engine, or a :class:`DockerError` saying how to start one."""
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as e:
        raise DockerError(
            f"the local Vertex AI emulator runs each job in a container, and no Docker "
            f"engine answers ({e}). Start one: Docker Desktop (macOS, Windows), or on Linux "
            "`sudo systemctl start docker` (install it first with your distribution's "
            "package, e.g. `sudo apt-get install docker.io`, and add yourself to the docker "
            "group); if it listens elsewhere, set DOCKER_HOST. Without Docker, submit to "
            "Vertex AI (Gemini Enterprise Agent Platform) with --backend vertex --build "
            "package, which needs no engine on this machine; or start the emulator with "
            "--no-run to only record jobs."
        ) from e
    return client


def ensure_image(client: DockerClient, image: str) -> None:
    """Make ``image`` local, pulling it from its registry when missing."""
    import docker.errors
    from docker.utils import parse_repository_tag

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as e:
        raise ImageUnavailable(f"Docker could not inspect image {image}: {e}") from e
    repo, tag = parse_repository_tag(image)
    try:
        client.images.pull(repo, tag=tag or "latest")
    except docker.errors.APIError as e:
        raise ImageUnavailable(
            f"image {image} is not on this machine and could not be pulled: "
            f"{e.explanation or e}. Push it to a registry the engine can reach "
            "(e.g. 127.0.0.1:5000/...) or build it locally."
        ) from e


def create(
    client: DockerClient,
    *,
    instance: str,
    job_id: int,
    display_name: str,
    image: str,
    command: Sequence[str],
    args: Sequence[str],
    env: Mapping[str, str],
    network: str,
    replica: str = CHIEF,
    mounts: Mapping[str, str] | None = None,
) -> Container:
    """Create (not start) the container of one replica of the job (the chief's by
    default, which keeps the job's own container name).

    ``command`` replaces the image's entrypoint and ``args`` its CMD, as Vertex does
    (Kubernetes semantics); empty lists keep the image's own. ``mounts`` maps host
    directories to their paths in the container (read-write): Docker mount objects, not
    ``host:container:rw`` strings, so any legal Cloud Storage object name works as a path
    (the SDK's default output directory has colons: ``aiplatform-custom-job-...-23:47:02``).
    """
    from docker.types import Mount

    suffix = "" if replica == CHIEF else f"-{replica}"
    return client.containers.create(
        image,
        command=list(args) or None,
        entrypoint=list(command) or None,
        environment=dict(env),
        labels={LABEL_INSTANCE: instance, LABEL_JOB: str(job_id),
                LABEL_NAME: display_name[:200], LABEL_REPLICA: replica},
        name=f"caliban-emulator-{instance}-{job_id}{suffix}",
        network_mode=network,
        mounts=[Mount(target=path, source=host, type="bind", read_only=False)
                for host, path in (mounts or {}).items()],
        # An init process forwards SIGTERM, so a cancel stops a program that is PID 1.
        init=True,
        detach=True,
    )


def find(client: DockerClient, instance: str, job_id: int | None = None) -> list[Container]:
    """This instance's containers (of one job if ``job_id``), running or not."""
    labels = [f"{LABEL_INSTANCE}={instance}"]
    if job_id is not None:
        labels.append(f"{LABEL_JOB}={job_id}")
    return list(client.containers.list(all=True, filters={"label": labels}))


def replica_of(container: Container) -> str:
    """The replica a container runs (containers of older emulators ran the chief)."""
    return str(container.labels.get(LABEL_REPLICA, CHIEF))


def stream_logs(container: Container) -> Iterator[bytes]:
    """stdout and stderr from the start, following until the container exits."""
    yield from container.logs(stream=True, follow=True, stdout=True, stderr=True)


def wait(container: Container) -> int:
    """The container's exit status (blocks until it exits)."""
    result: dict[str, Any] = container.wait()
    return int(result.get("StatusCode", -1))


def stop(container: Container, grace_seconds: int) -> None:
    """SIGTERM, then SIGKILL after ``grace_seconds``; a container already gone is fine."""
    import docker.errors

    try:
        container.stop(timeout=grace_seconds)
    except docker.errors.NotFound:
        pass


def stop_all(running: Sequence[Container], grace_seconds: int) -> None:
    """Stop several containers at once: each gets its grace period in parallel."""
    import threading

    threads = [threading.Thread(target=stop, args=(c, grace_seconds), daemon=True)
               for c in running]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def remove(container: Container) -> None:
    import docker.errors

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        # "removal already in progress" is the only other answer seen; both end the same.
        if e.status_code != 409:
            raise

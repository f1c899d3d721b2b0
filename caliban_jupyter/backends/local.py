"""The local Vertex emulator's client: Vertex's JobService API on ``http://127.0.0.1:PORT``.

The emulator (:mod:`caliban_jupyter.emulator`) speaks the same v1 REST API as
Google, so this is :class:`~caliban_jupyter.backends.vertex.VertexBackend` with what differs
on a laptop: anonymous credentials, the emulator's own job page and its ``/logs`` route
(Google keeps logs in Cloud Logging, which the Vertex client can only point at).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from .base import PermanentBackendError, RetryPolicy
from .vertex import VertexBackend, is_tuning_name

if TYPE_CHECKING:
    from ..events import Progress
    from ..settings import Settings

#: The project id used with the local emulator when none is configured.
LOCAL_PROJECT = "local"
#: The bucket of local jobs' output locations when no ``output_dir`` is set.
EMULATOR_BUCKET = "caliban-local"


class LocalBackend(VertexBackend):
    """A :class:`~caliban_jupyter.backends.base.Backend` over the local emulator.

    Parameters
    ----------
    endpoint
        The emulator's URL, such as ``http://127.0.0.1:8470`` (required: there is no
        default emulator address to fall back on, and Google's must never be used here).
    project, region
        Where jobs are created: ``projects/{project}/locations/{region}``.
    timeout, page_size, read_retry
        As for :class:`~caliban_jupyter.backends.vertex.VertexBackend`.
    credentials
        Explicit google-auth credentials; anonymous ones by default (the emulator checks
        none).
    """

    name = "local"
    title = "local emulator"
    needs_project = False
    default_project = LOCAL_PROJECT
    # Cloud Build pushes where the emulator cannot pull from.
    build_modes = frozenset({"docker", "package"})
    needs_staging_bucket = False
    prebuilt_executors = False  # the emulator runs what this machine has: base_image
    local_images = True
    default_output_dir = f"gs://{EMULATOR_BUCKET}"
    local_output_dirs = True

    @classmethod
    def prepare(cls, settings: Settings) -> Settings:
        return settings

    @classmethod
    def connect(cls, settings: Settings, progress: Progress) -> LocalBackend:
        """The emulator at ``settings.endpoint``, or the local one (started if needed)."""
        from ..events import Info

        endpoint = settings.endpoint
        if not endpoint:
            from ..emulator.control import ensure_emulator

            told: list[object] = []

            def relay(event: Any) -> None:  # ensure_emulator says so when it starts one
                told.append(event)
                progress(event)

            endpoint = ensure_emulator(progress=relay)
            if not told:
                progress(Info(f"using the local Vertex emulator at {endpoint}"))
        else:
            progress(Info(f"using the local Vertex emulator at {endpoint}"))
        return cls(project=settings.project_id or LOCAL_PROJECT, region=settings.region,
                   endpoint=endpoint)

    @classmethod
    def local_staging(cls) -> Path | None:
        """The emulator's staging directory: ``$CALIBAN_HOME/emulator/staging``."""
        from ..emulator.control import default_state_dir

        return default_state_dir() / "staging"

    @classmethod
    def gs_root(cls, settings: Settings | None) -> Path | None:
        """Where the emulator keeps ``gs://`` locations: asked of the emulator
        (``/healthz``), else the default emulator's state dir (it may be stopped)."""
        from ..emulator import control
        from ..emulator.outputs import output_root

        endpoint = settings.endpoint if settings else None
        if not endpoint:
            running = control.running()
            endpoint = running.get("endpoint") if running else None
        answer = control.health(str(endpoint)) if endpoint else None
        root = answer.get("outputRoot") if answer else None
        return Path(root) if root else output_root(control.default_state_dir())

    @classmethod
    def notebook_url(cls, output_uri: str, job_url: str | None) -> str | None:
        """The emulator's page of the executed notebook."""
        return f"{job_url}/notebook" if job_url else None

    def __init__(
        self,
        *,
        endpoint: str,
        project: str = LOCAL_PROJECT,
        region: str = "us-central1",
        timeout: float = 30.0,
        page_size: int = 500,
        read_retry: RetryPolicy | None = None,
        credentials: Any = None,
    ):
        super().__init__(project=project, region=region, endpoint=endpoint, timeout=timeout,
                         page_size=page_size, read_retry=read_retry, credentials=credentials)

    def _credentials(self) -> Any:
        if self._explicit_credentials is not None:
            return self._explicit_credentials
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()

    def job_url(self, resource_name: str) -> str:
        job_id = resource_name.rsplit("/", 1)[-1]
        if is_tuning_name(resource_name):
            # The emulator has no page per tuning job: its log says what each trial did
            # (/ui/ lists the tuning jobs).
            return f"{self.endpoint}/logs/{job_id}"
        return f"{self.endpoint}/ui/jobs/{job_id}"

    def logs(self, resource_name: str, tail: int | None = None) -> str:
        """The job's output so far, from the emulator's ``/logs/ID`` (last ``tail`` lines)."""
        job_id = resource_name.rsplit("/", 1)[-1]
        query = f"?tail={int(tail)}" if tail is not None else ""
        url = f"{self.endpoint}/logs/{urllib.parse.quote(job_id)}{query}"
        with self._calls_lock:
            self.calls["logs"] += 1
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                text: str = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise PermanentBackendError(f"no logs for job {job_id} on {self.endpoint}; "
                                            "check the job name with `caliban status`",
                                            status=404) from None
            raise BackendError(f"fetching logs from {url}: HTTP {e.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise BackendError(f"fetching logs from {url}: {e}; is the emulator running "
                               "(`caliban emulator`)?") from None
        if tail is not None:
            # Also trim here, in case the server ignores ?tail.
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail > 0 else ""
        return text

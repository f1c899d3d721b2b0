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
from typing import Any

from ..errors import BackendError
from . import LOCAL_PROJECT
from .base import PermanentBackendError, RetryPolicy
from .vertex import VertexBackend


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

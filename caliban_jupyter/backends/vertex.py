"""Vertex AI's JobService through google-cloud-aiplatform (REST transport).

:class:`VertexBackend` talks to Google (``{region}-aiplatform.googleapis.com``). The local
emulator speaks the same v1 REST API, so its client
(:class:`~caliban_jupyter.backends.local.LocalBackend`) is this class with other
credentials, URLs and logs, and everything past the endpoint is exercised by the local
tests.

The Google SDK is imported when the first call is made, never at module import (it costs
about a second and 100 MiB).
"""

from __future__ import annotations

import collections
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendError, UsageError
from ..spec.labels import SID_KEY as SID_LABEL
from ..spec.labels import XGROUP_KEY as XGROUP_LABEL
from .base import PermanentBackendError, RetryPolicy, TransientBackendError

if TYPE_CHECKING:
    from ..events import Progress
    from ..settings import Settings

T = TypeVar("T")

CONSOLE_URL = ("https://console.cloud.google.com/vertex-ai/locations/{region}/training/{id}/cpu"
               "?project={project}")
#: A tuning job's console page: the SDK's ``_Job._dashboard_uri``
#: (``.../locations/{location}/{_job_type}/{id}?project=``, ``_job_type = "training"`` for
#: ``HyperparameterTuningJob``; google-cloud-aiplatform, aiplatform/jobs.py).
TUNING_URL = ("https://console.cloud.google.com/vertex-ai/locations/{region}/training/{id}"
              "?project={project}")
LOGS_URL = ("https://console.cloud.google.com/logs/query;query=resource.labels.job_id%3D%22{id}"
            "%22?project={project}")
STORAGE_URL = "https://console.cloud.google.com/storage/browser/_details/"
#: The Artifact Registry repository images go to when no registry is set.
DEFAULT_AR_REPOSITORY = "caliban"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
ADC_HELP = ("run `gcloud auth application-default login`, or pass --cloud_key with a "
            "service-account key file, or use --backend local to run on the local emulator")


def _quote_filter(value: str) -> str:
    """A filter string literal (label values are label-safe, but be strict anyway)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class VertexBackend:
    """A :class:`~caliban_jupyter.backends.base.Backend` over ``aiplatform_v1.JobServiceClient``.

    Parameters
    ----------
    project, region
        Where jobs are created: ``projects/{project}/locations/{region}``.
    endpoint
        ``None`` for Google's regional endpoint, or a URL such as ``http://127.0.0.1:8470``.
    cloud_key
        Path to a service-account key JSON file; otherwise application default credentials.
    timeout
        Seconds allowed for each HTTP call (the low-level client has no default).
    page_size
        Jobs asked for per list call.
    read_retry
        Backoff for idempotent calls (list, get, cancel).
    credentials
        Explicit google-auth credentials (overrides ``cloud_key`` and the defaults).
    """

    #: The ``--backend`` value this class serves.
    name = "vertex"
    title = "Vertex AI"
    needs_project = True
    default_project = ""
    build_modes = frozenset({"docker", "package", "cloudbuild"})
    needs_staging_bucket = True
    prebuilt_executors = True
    local_images = False
    default_output_dir: str | None = None
    local_output_dirs = False

    # -- the service, before connecting -------------------------------------------------

    @classmethod
    def prepare(cls, settings: Settings) -> Settings:
        """A project is required; with no registry set, images go to Artifact Registry in
        the job's project and region (Vertex pulls only from a registry it can read, so a
        local tag would never run there)."""
        if not settings.project_id:
            raise UsageError(
                "no Google Cloud project: the Vertex AI backend needs one. Pass --project_id, "
                "set PROJECT_ID, or put \"project_id\" in .calibanconfig.json. To run on this "
                "machine without a Google account, use --backend local (or "
                "CALIBAN_BACKEND=local).")
        if settings.registry:
            return settings
        from dataclasses import replace

        registry = f"{settings.region}-docker.pkg.dev/{settings.project_id}/" \
                   f"{DEFAULT_AR_REPOSITORY}"
        return replace(settings, registry=registry,
                       sources={**settings.sources, "registry": "default for Vertex AI "
                                "(Artifact Registry in the job's project and region)"})

    @classmethod
    def connect(cls, settings: Settings, progress: Progress) -> VertexBackend:
        if not settings.project_id:
            raise UsageError(
                "no Google Cloud project: pass --project_id (or set PROJECT_ID, or "
                "\"project_id\" in .calibanconfig.json), or use --backend local to run on the "
                "local Vertex emulator")
        return cls(project=settings.project_id, region=settings.region,
                   endpoint=settings.endpoint, cloud_key=settings.cloud_key)

    @classmethod
    def local_staging(cls) -> Path | None:
        return None

    @classmethod
    def gs_root(cls, settings: Settings | None) -> Path | None:
        return None

    @classmethod
    def notebook_url(cls, output_uri: str, job_url: str | None) -> str | None:
        """The Cloud console's page of the executed notebook's object."""
        if not output_uri.startswith("gs://"):
            return None
        from ..spec.outputs import NOTEBOOK, split_gs

        bucket, path = split_gs(output_uri)
        return STORAGE_URL + "/".join(p for p in (bucket, path, NOTEBOOK) if p)

    def __init__(
        self,
        *,
        project: str,
        region: str,
        endpoint: str | None = None,
        cloud_key: str | None = None,
        timeout: float = 30.0,
        page_size: int = 500,
        read_retry: RetryPolicy | None = None,
        credentials: Any = None,
    ):
        self.project = project
        self.region = region
        self.endpoint = (endpoint or f"{region}-aiplatform.googleapis.com").rstrip("/")
        self.cloud_key = cloud_key
        self.timeout = timeout
        self.page_size = page_size
        # Reads are idempotent, so they are retried here; creates are retried by the
        # submitter, which knows how to avoid duplicates.
        self.read_retry = read_retry or RetryPolicy(max_attempts=5, initial=0.2, maximum=5.0)
        #: HTTP calls made, by method name (for tests and benchmarks).
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._explicit_credentials = credentials

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, endpoint={self.endpoint!r}, " \
               f"project={self.project!r}, region={self.region!r})"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    # -- the client -------------------------------------------------------------------

    def _credentials(self) -> Any:
        if self._explicit_credentials is not None:
            return self._explicit_credentials
        if self.cloud_key:
            from google.oauth2 import service_account

            try:
                return service_account.Credentials.from_service_account_file(
                    self.cloud_key, scopes=list(SCOPES))
            except FileNotFoundError:
                raise UsageError(f"--cloud_key {self.cloud_key}: no such file; pass the path "
                                 "of a service-account key JSON file") from None
            except (ValueError, KeyError, json.JSONDecodeError) as e:
                raise UsageError(f"--cloud_key {self.cloud_key}: not a service-account key "
                                 f"file ({e}); download one from the Cloud console "
                                 "(IAM > Service accounts > Keys)") from None
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=list(SCOPES))
        except DefaultCredentialsError:
            raise BackendError(f"no Google credentials found: {ADC_HELP}") from None
        return credentials

    @property
    def client(self) -> Any:
        """The ``JobServiceClient``, built on first use (thread-safe)."""
        with self._client_lock:
            if self._client is None:
                from google.api_core.client_options import ClientOptions
                from google.cloud import aiplatform_v1

                self._client = aiplatform_v1.JobServiceClient(
                    credentials=self._credentials(),
                    transport="rest",
                    client_options=ClientOptions(api_endpoint=self.endpoint),
                )
                _widen_pool(self._client)
            return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one HTTP call, translating every transport failure into a BackendError."""
        import requests
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        with self._calls_lock:
            self.calls[what] += 1
        where = f"{what} on {self.endpoint}"
        try:
            return fn()
        except gexc.TooManyRequests as e:
            # 429 means the request was refused before any work: nothing was created.
            raise TransientBackendError(f"{where}: rate limited: {_msg(e)}",
                                        ambiguous=False, status=429) from None
        except (gexc.ServerError, gexc.DeadlineExceeded) as e:
            raise TransientBackendError(f"{where}: server error {e.code}: {_msg(e)}",
                                        ambiguous=True, status=_status(e)) from None
        except (gexc.Unauthenticated, gexc.Unauthorized) as e:
            raise PermanentBackendError(f"{where}: not authenticated: {_msg(e)}; {ADC_HELP}",
                                        status=401) from None
        except (gexc.PermissionDenied, gexc.Forbidden) as e:
            raise PermanentBackendError(
                f"{where}: permission denied: {_msg(e)}; check that project "
                f"{self.project!r} has the Vertex AI API enabled and that your account (or "
                "--cloud_key) has the Vertex AI User role", status=403) from None
        except gexc.NotFound as e:
            raise PermanentBackendError(f"{where}: not found: {_msg(e)}; check --project_id "
                                        "and --region", status=404) from None
        except gexc.GoogleAPICallError as e:
            raise PermanentBackendError(f"{where}: {_status(e)} {_msg(e)}",
                                        status=_status(e)) from None
        except requests.exceptions.ConnectionError as e:
            # A refused connection never reached the server; anything else (reset, dropped
            # after sending, read timeout) may have been acted on.
            refused = "NewConnectionError" in repr(e) or "Connection refused" in str(e)
            kind = "connection refused" if refused else "connection dropped"
            raise TransientBackendError(f"{where}: {kind} ({type(e).__name__})",
                                        ambiguous=not refused) from None
        except requests.exceptions.Timeout as e:
            raise TransientBackendError(f"{where}: timed out after {self.timeout:g}s "
                                        f"({type(e).__name__})", ambiguous=True) from None
        except auth_exc.TransportError as e:
            raise TransientBackendError(f"{where}: could not refresh credentials: {e}",
                                        ambiguous=False) from None
        except auth_exc.RefreshError as e:
            raise PermanentBackendError(f"{where}: credentials refused: {e}; {ADC_HELP}"
                                        ) from None

    # -- the Backend protocol ---------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST the CustomJob ``body`` once (no retry here: see backends/submit.py)."""
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format

        job = aiplatform_v1.CustomJob()
        try:
            json_format.ParseDict(body, aiplatform_v1.CustomJob.pb(job))
        except json_format.ParseError as e:
            raise PermanentBackendError(f"invalid CustomJob body: {e}") from None
        created = self._call("create", lambda: self.client.create_custom_job(
            parent=self.parent, custom_job=job, timeout=self.timeout, retry=None))
        return _to_dict(created)

    def _list(self, filter_: str) -> Iterator[dict[str, Any]]:
        from google.cloud import aiplatform_v1

        return self._pages("list", aiplatform_v1.ListCustomJobsRequest, filter_,
                           self.client.list_custom_jobs, "custom_jobs")

    def _pages(self, what: str, request_type: Any, filter_: str, list_call: Any,
               items: str) -> Iterator[dict[str, Any]]:
        """Every resource a filtered list returns, one call per page (each retried)."""
        token = ""
        while True:
            request = request_type(parent=self.parent, filter=filter_,
                                   page_size=self.page_size, page_token=token)

            def one_page(request: Any = request) -> Any:
                pager = list_call(request=request, timeout=self.timeout, retry=None)
                # The pager's first page is the response just received: no further call.
                return next(iter(pager.pages))

            page = self.read_retry.call(lambda: self._call(what, one_page))
            for job in getattr(page, items):
                yield _to_dict(job)
            token = page.next_page_token
            if not token:
                return

    def find_by_submission_id(self, submission_id: str) -> dict[str, Any] | None:
        for job in self._list(f"labels.{SID_LABEL}={_quote_filter(submission_id)}"):
            return job
        return None

    def list_group(self, xgroup: str) -> Iterator[dict[str, Any]]:
        return self._list(f"labels.{XGROUP_LABEL}={_quote_filter(xgroup)}")

    def get(self, resource_name: str) -> dict[str, Any]:
        """One job by resource name (used for single-job look-ups, never for groups)."""
        if is_tuning_name(resource_name):
            return self.get_tuning(resource_name)
        got = self.read_retry.call(lambda: self._call("get", lambda: self.client.get_custom_job(
            name=resource_name, timeout=self.timeout, retry=None)))
        return _to_dict(got)

    def cancel(self, resource_name: str) -> None:
        # Cancelling twice is harmless, so a retry after an ambiguous failure is safe.
        if is_tuning_name(resource_name):
            self.cancel_tuning(resource_name)
            return
        self.read_retry.call(lambda: self._call("cancel", lambda: self.client.cancel_custom_job(
            name=resource_name, timeout=self.timeout, retry=None)))

    # -- hyperparameter tuning jobs (projects.locations.hyperparameterTuningJobs) --------

    def create_tuning(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST the HyperparameterTuningJob ``body`` once; return the created job's JSON."""
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format

        job = aiplatform_v1.HyperparameterTuningJob()
        try:
            json_format.ParseDict(body, aiplatform_v1.HyperparameterTuningJob.pb(job))
        except json_format.ParseError as e:
            raise PermanentBackendError(f"invalid HyperparameterTuningJob body: {e}") from None
        created = self._call("create_tuning",
                             lambda: self.client.create_hyperparameter_tuning_job(
                                 parent=self.parent, hyperparameter_tuning_job=job,
                                 timeout=self.timeout, retry=None))
        return _to_dict(created)

    def get_tuning(self, resource_name: str) -> dict[str, Any]:
        """One tuning job (with its ``trials``) by resource name."""
        got = self.read_retry.call(lambda: self._call(
            "get_tuning", lambda: self.client.get_hyperparameter_tuning_job(
                name=resource_name, timeout=self.timeout, retry=None)))
        return _to_dict(got)

    def list_tuning_group(self, xgroup: str) -> Iterator[dict[str, Any]]:
        """Every tuning job labeled ``xgroup`` (one list call per page)."""
        from google.cloud import aiplatform_v1

        return self._pages("list_tuning", aiplatform_v1.ListHyperparameterTuningJobsRequest,
                           f"labels.{XGROUP_LABEL}={_quote_filter(xgroup)}",
                           self.client.list_hyperparameter_tuning_jobs,
                           "hyperparameter_tuning_jobs")

    def cancel_tuning(self, resource_name: str) -> None:
        """Ask the service to cancel a tuning job (its running trials end with it)."""
        self.read_retry.call(lambda: self._call(
            "cancel_tuning", lambda: self.client.cancel_hyperparameter_tuning_job(
                name=resource_name, timeout=self.timeout, retry=None)))

    def job_url(self, resource_name: str) -> str:
        job_id = resource_name.rsplit("/", 1)[-1]
        if is_tuning_name(resource_name):
            return TUNING_URL.format(region=self.region, id=job_id, project=self.project)
        return CONSOLE_URL.format(region=self.region, id=job_id, project=self.project)

    def logs(self, resource_name: str, tail: int | None = None) -> str:
        """Never returned here: Vertex AI keeps job logs in Cloud Logging (raises)."""
        job_id = resource_name.rsplit("/", 1)[-1]
        raise BackendError(
            "Vertex AI keeps job logs in Cloud Logging; open "
            f"{LOGS_URL.format(id=job_id, project=self.project)} (or run `gcloud logging "
            f"read 'resource.labels.job_id=\"{job_id}\"' --project {self.project}`)")


#: HTTP connections kept open per host: one per concurrent call (a sweep's creates, see
#: service/submit.py), so calls reuse them. requests keeps 10; past that each call opened a
#: new connection (a TLS handshake with Google) and dropped it, and a burst of connections
#: overflowed the emulator's accept queue (creates retried after "connection dropped").
POOL_SIZE = 32


def _widen_pool(client: Any) -> None:
    """Give the REST transport's session a pool of :data:`POOL_SIZE` connections (only where
    it has requests' plain adapter: a mutual-TLS adapter is left as it is)."""
    from requests.adapters import HTTPAdapter

    session = getattr(getattr(client, "transport", None), "_session", None)
    adapters = getattr(session, "adapters", None)
    if session is None or adapters is None:
        return
    for prefix in ("https://", "http://"):
        if type(adapters.get(prefix)) is HTTPAdapter:
            session.mount(prefix, HTTPAdapter(pool_maxsize=POOL_SIZE))


def is_tuning_name(resource_name: str) -> bool:
    """Whether a resource name is a HyperparameterTuningJob's (not a CustomJob's)."""
    return "/hyperparameterTuningJobs/" in resource_name


def _status(e: Any) -> int | None:
    code = getattr(e, "code", None)
    return int(code) if isinstance(code, int) else None


def _to_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message as REST JSON (lowerCamelCase, enum names)."""
    from google.protobuf import json_format

    pb = type(message).pb(message)
    out: dict[str, Any] = json_format.MessageToDict(pb)
    return out


def _msg(e: Any) -> str:
    """The server's message, without the ``POST http://...:`` prefix the SDK adds."""
    return re.sub(r"^[A-Z]+ \S+: ", "", str(getattr(e, "message", e)))

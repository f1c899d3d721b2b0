"""The CustomJob methods of Vertex AI v1, over the store and the runner (no HTTP here).

Each method takes the parent's project and location as they appear in the request path
(a project id or number) and answers the resource JSON Vertex would answer, or raises
:class:`~.rpc.ApiError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .filters import compile_filter
from .replicas import replica_names
from .resources import camel_case, check_parent, normalize_request, project_number, rfc3339
from .rpc import TERMINAL_STATES, ApiError, invalid_argument
from .runner import Runner
from .store import Job, JobStore
from .validation import custom_job_problems

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Fields of a CustomJob only the service sets: ignored in a create body, as Vertex does.
OUTPUT_ONLY = ("name", "state", "error", "createTime", "startTime", "endTime", "updateTime",
               "webAccessUris", "satisfiesPzs", "satisfiesPzi")


class JobService:
    """``projects.locations.customJobs`` and the operations its delete returns."""

    def __init__(self, store: JobStore, runner: Runner) -> None:
        self.store = store
        self.runner = runner

    def resource(self, job: Job) -> dict[str, Any]:
        """The CustomJob as Vertex answers it (enums by name), with ``webAccessUris``.

        Vertex fills ``webAccessUris`` (a map, node name -> URI: ``workerpool0-0`` for the
        primary node, ``workerpool1-0`` for the first of the second pool ...) only when
        ``jobSpec.enableWebAccess`` is set, while the job runs
        (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.customJobs
        , field webAccessUris). Vertex's URIs open an interactive shell; the emulator's (our
        choice) open the node's own log on this emulator.
        """
        out = job.to_resource()
        spec = job.body.get("jobSpec") or {}
        if job.state == "JOB_STATE_RUNNING" and spec.get("enableWebAccess"):
            base = self.runner.job_url(job.id).split("/ui/", 1)[0]
            out["webAccessUris"] = {name: f"{base}/logs/{job.id}?replica={name}"
                                    for name in replica_names(spec)}
        return out

    def create(self, project: str, location: str, body: Any) -> Job:
        job = checked_body(project, location, body, "CustomJob", custom_job_problems,
                           OUTPUT_ONLY)
        created = self.store.create(project_number(project), location, job)
        self.runner.wake()
        return created

    def get(self, project: str, location: str, job_id: str) -> Job:
        return found(project, location, job_id, "CustomJob", "customJobs", self.store.get)

    def list(self, project: str, location: str, filter_text: str | None,
             page_size: int | None, page_token: str | None,
             read_mask: str | None = None) -> dict[str, Any]:
        """One page of jobs, newest first, and the token of the next page if any.

        ``read_mask`` (``"displayName,labels,state"``, snake_case accepted) keeps only
        those top-level fields of each job.
        """
        check_parent(project, location)
        number = project_number(project)
        return list_response(
            "customJobs", self.resource,
            lambda before, n: self.store.list(number, location, before_id=before, limit=n,
                                              trials=False),
            filter_text, page_size, page_token, read_mask)

    def cancel(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        job = self.get(project, location, job_id)
        _not_a_trial(job, "cancelled")
        self.runner.cancel(job.id)
        return {}

    def delete(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        job = self.get(project, location, job_id)
        deletable(job, "CustomJob")
        _not_a_trial(job, "deleted")
        self.store.delete(job.id)
        return deleted(self.store, job.project_number, job.location, job.id)

    def get_operation(self, project: str, location: str, op_id: str) -> dict[str, Any]:
        check_parent(project, location)
        name = f"projects/{project_number(project)}/locations/{location}/operations/{op_id}"
        operation = self.store.get_operation(name)
        if operation is None:
            raise ApiError("NOT_FOUND", f"Operation {name} does not exist.")
        return operation


def checked_body(project: str, location: str, body: Any, kind: str,
                 problems_of: Callable[[Any], list[tuple[str, str]]],
                 output_only: Sequence[str]) -> dict[str, Any]:
    """A create request's body, checked (Vertex's INVALID_ARGUMENT listing every problem)
    and normalized (lowerCamelCase, enums by name, output-only fields dropped)."""
    check_parent(project, location)
    if not isinstance(body, Mapping):
        field = re.sub(r"(?<!^)([A-Z])", r"_\1", kind).lower()  # HyperparameterTuningJob
        raise invalid_argument([(field, f"The request body must be a {kind} JSON object.")])
    job = normalize_request(dict(body))
    problems = problems_of(job)
    if problems:
        raise invalid_argument(problems)
    for key in output_only:
        job.pop(key, None)
    return job


def found(project: str, location: str, job_id: str, kind: str, collection: str,
          get: Callable[[int], Any]) -> Any:
    """The stored job ``job_id`` of the parent, or NOT_FOUND (INVALID_ARGUMENT for an id
    that is not a number)."""
    check_parent(project, location)
    if not job_id.isdigit():
        raise ApiError("INVALID_ARGUMENT", f"Invalid {kind} id {job_id!r}: ids are numbers, "
                       f"as in projects/P/locations/L/{collection}/123.")
    job = get(int(job_id))
    if job is None or job.project_number != project_number(project) \
            or job.location != location:
        raise ApiError(
            "NOT_FOUND",
            f"The {kind} projects/{project}/locations/{location}/{collection}/{job_id} does "
            "not exist. List jobs to find its name (deleted jobs are gone).")
    return job


def _not_a_trial(job: Job, done: str) -> None:
    # Trials' CustomJobs belong to their tuning job (ours: Vertex documents no rule).
    if job.tuning_job is not None:
        raise ApiError("FAILED_PRECONDITION", f"The CustomJob {job.name} runs a trial of "
                       f"the HyperparameterTuningJob {job.tuning_job} and cannot be {done} "
                       "on its own: cancel or delete the tuning job.")


def paginate(fetch: Callable[[int | None, int], Sequence[Any]], filter_text: str | None,
             page_size: int | None, page_token: str | None) -> tuple[list[Any], str | None]:
    """One page of stored jobs (anything with ``id`` and ``record()``), newest first, that
    pass the list ``filter``, and the token of the next page (None: the last page).

    ``fetch(before_id, n)`` returns up to ``n`` jobs below ``before_id``, newest first.
    """
    predicate = compile_filter(filter_text)
    size = page_size or DEFAULT_PAGE_SIZE
    if size < 0:
        raise ApiError("INVALID_ARGUMENT", f"page_size must be positive, not {size}.")
    size = min(size, MAX_PAGE_SIZE)
    fingerprint = hashlib.sha256((filter_text or "").encode()).hexdigest()[:12]
    before = _decode_token(page_token, fingerprint) if page_token else None
    page: list[Any] = []
    more = False
    while True:
        batch = fetch(before, size * 2 + 50)
        for job in batch:
            if predicate(job.record()):
                if len(page) == size:
                    more = True
                    break
                page.append(job)
        if more or len(batch) < size * 2 + 50:
            break
        before = batch[-1].id
    return page, _encode_token(page[-1].id, fingerprint) if more else None


def deletable(job: Any, kind: str) -> None:
    """Refuse to delete an unfinished job (FAILED_PRECONDITION), as Vertex does."""
    if job.state not in TERMINAL_STATES:
        raise ApiError(
            "FAILED_PRECONDITION",
            f"The {kind} {job.name} cannot be deleted because it is in state {job.state}. "
            "Cancel it first, then delete it once it is JOB_STATE_CANCELLED.")


def list_response(key: str, resource: Callable[[Any], dict[str, Any]],
                  fetch: Callable[[int | None, int], Sequence[Any]], filter_text: str | None,
                  page_size: int | None, page_token: str | None,
                  read_mask: str | None) -> dict[str, Any]:
    """A list method's answer: ``{key: [resources], "nextPageToken": ...}`` (see
    :func:`paginate` and :func:`masked`)."""
    page, token = paginate(fetch, filter_text, page_size, page_token)
    out: dict[str, Any] = {key: masked([resource(j) for j in page], read_mask)}
    if token:
        out["nextPageToken"] = token
    return out


def masked(resources: list[dict[str, Any]], read_mask: str | None) -> list[dict[str, Any]]:
    """``read_mask`` (``"displayName,labels,state"``, snake_case accepted): only those
    top-level fields of each resource."""
    if not read_mask:
        return resources
    keep = {camel_case(p.strip().split(".")[0]) for p in read_mask.split(",") if p.strip()}
    return [{k: v for k, v in r.items() if k in keep} for r in resources]


def deleted(store: JobStore, number: str, location: str, job_id: int) -> dict[str, Any]:
    """The done Operation a delete answers (also saved, for ``operations.get``)."""
    now = rfc3339(time.time())
    op_name = (f"projects/{number}/locations/{location}/operations/"
               f"{job_id}{int(time.time() * 1000) % 1_000_000:06d}")
    operation = {
        "name": op_name,
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.aiplatform.v1."
                     "DeleteOperationMetadata",
            "genericMetadata": {"createTime": now, "updateTime": now},
        },
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }
    store.save_operation(op_name, operation)
    return operation


def _encode_token(last_id: int, fingerprint: str) -> str:
    raw = json.dumps({"before": last_id, "filter": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        before = int(data["before"])
        same_filter = data["filter"] == fingerprint
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ApiError("INVALID_ARGUMENT", "Invalid page_token: pass the nextPageToken of "
                       "the previous page unchanged.") from None
    if not same_filter:
        raise ApiError("INVALID_ARGUMENT", "The page_token was issued for another filter: "
                       "keep the filter the same while paging.")
    return before

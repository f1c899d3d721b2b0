"""The emulator's HTTP server: Vertex AI v1 REST routes for CustomJobs, logs and pages.

Binds 127.0.0.1 only. Routes:

- ``POST   /v1/projects/P/locations/L/customJobs``            create
- ``GET    /v1/projects/P/locations/L/customJobs``            list (filter, pageSize, pageToken)
- ``GET    /v1/projects/P/locations/L/customJobs/ID``         get
- ``POST   /v1/projects/P/locations/L/customJobs/ID:cancel``  cancel
- ``DELETE /v1/projects/P/locations/L/customJobs/ID``         delete (a done Operation)
- ``GET    /v1/projects/P/locations/L/customJobs/ID:logs``    log as text (``?tail=N``)
- ``GET    /v1/projects/P/locations/L/operations/OP``         the delete's Operation
- ``POST|GET /v1/projects/P/locations/L/hyperparameterTuningJobs``, ``GET|DELETE .../ID``,
  ``POST .../ID:cancel``: the same methods for HyperparameterTuningJobs (see .tuning_api)
- ``GET    /logs/ID`` (``?tail=N``), ``GET /ui/``, ``GET /ui/jobs/ID``, ``GET /healthz``
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..spec.outputs import NOTEBOOK
from .api import JobService
from .faults import FaultInjector
from .outputs import host_dir, output_root
from .resources import encode_enums_as_ints, wants_int_enums
from .rpc import ApiError
from .store import JobStore
from .tuning_api import TuningService
from .ui import render_index, render_job

_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(_PARENT + r"/customJobs"), "create"),
    ("GET", re.compile(_PARENT + r"/customJobs"), "list"),
    ("GET", re.compile(_PARENT + r"/customJobs/(?P<id>[^/:]+):logs"), "api_logs"),
    ("GET", re.compile(_PARENT + r"/customJobs/(?P<id>[^/:]+)"), "get"),
    ("POST", re.compile(_PARENT + r"/customJobs/(?P<id>[^/:]+):cancel"), "cancel"),
    ("DELETE", re.compile(_PARENT + r"/customJobs/(?P<id>[^/:]+)"), "delete"),
    ("GET", re.compile(_PARENT + r"/operations/(?P<op>[^/:]+)"), "operation"),
    ("POST", re.compile(_PARENT + r"/hyperparameterTuningJobs"), "tuning_create"),
    ("GET", re.compile(_PARENT + r"/hyperparameterTuningJobs"), "tuning_list"),
    ("GET", re.compile(_PARENT + r"/hyperparameterTuningJobs/(?P<id>[^/:]+)"), "tuning_get"),
    ("POST", re.compile(_PARENT + r"/hyperparameterTuningJobs/(?P<id>[^/:]+):cancel"),
     "tuning_cancel"),
    ("DELETE", re.compile(_PARENT + r"/hyperparameterTuningJobs/(?P<id>[^/:]+)"),
     "tuning_delete"),
    ("GET", re.compile(r"/healthz"), "healthz"),
    ("GET", re.compile(r"/logs/(?P<id>\d+)"), "logs"),
    ("GET", re.compile(r"/ui/?"), "ui_index"),
    ("GET", re.compile(r"/ui/jobs/(?P<id>\d+)"), "ui_job"),
    ("GET", re.compile(r"/ui/jobs/(?P<id>\d+)/notebook"), "ui_notebook"),
    ("GET", re.compile(r"/"), "root"),
]
DEFAULT_TAIL = 200
UI_JOBS = 500


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Holds what handlers need; one handler thread per connection."""

    daemon_threads = True
    service: JobService
    tuning: TuningService
    store: JobStore
    faults: FaultInjector
    verbose: bool = False
    health: dict[str, Any]

    def __init__(self, address: tuple[str, int], handler: type[Handler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so no request reaches a stopped emulator."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (or times out) mid-answer is routine, not a server bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Routes one request; every failure becomes Google's error envelope."""

    server: EmulatorHTTPServer
    # Keep-alive connections (the SDK's requests session reuses them) without Nagle's
    # delay: ~2 ms per call instead of ~40 ms.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "caliban-vertex-emulator"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"[emulator] {self.address_string()} {format % args}\n")

    # -- plumbing -------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.int_enums = wants_int_enums(self.query)
        body = self._read_body()
        try:
            for route_method, pattern, name in _ROUTES:
                m = pattern.fullmatch(url.path)
                if m and route_method == method:
                    if url.path.startswith("/v1/"):
                        self.server.faults.before()
                    getattr(self, f"_{name}")(body=body, **m.groupdict())
                    return
            if any(p.fullmatch(url.path) for _, p, _ in _ROUTES):
                raise ApiError("UNIMPLEMENTED", f"{method} is not supported on {url.path}.")
            raise ApiError("NOT_FOUND", f"No such route: {method} {url.path}. The emulator "
                           "serves Vertex AI v1 customJobs and hyperparameterTuningJobs, "
                           "/ui/, /logs/ID and /healthz.")
        except ApiError as e:
            self._send_json(e.to_json(), e.http_status)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {e}") from None

    def _send(self, data: bytes, content_type: str, status: int = 200,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload, indent=1).encode()
        self._send(data, "application/json; charset=UTF-8", status)

    def _send_job(self, resource: dict[str, Any]) -> None:
        self._send_json(encode_enums_as_ints(resource) if self.int_enums else resource)

    def _param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def _int_param(self, name: str, default: int | None = None) -> int | None:
        raw = self._param(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", f"{name} must be an integer, not {raw!r}.") \
                from None

    # -- Vertex API -----------------------------------------------------------------------

    def _create(self, body: bytes, project: str, location: str) -> None:
        job = self.server.service.create(project, location, self._json_body(body))
        if self.server.faults.drop_after_commit():
            # The job is stored; the client never hears so (tests resume-after-failure).
            self.close_connection = True
            return
        self._send_job(self.server.service.resource(job))

    def _list(self, body: bytes, project: str, location: str) -> None:
        page = self.server.service.list(
            project, location, self._param("filter"),
            self._int_param("pageSize") or self._int_param("page_size"),
            self._param("pageToken") or self._param("page_token"),
            self._param("readMask") or self._param("read_mask"),
        )
        if self.int_enums:
            page["customJobs"] = [encode_enums_as_ints(j) for j in page["customJobs"]]
        self._send_json(page)

    def _get(self, body: bytes, project: str, location: str, id: str) -> None:
        service = self.server.service
        self._send_job(service.resource(service.get(project, location, id)))

    def _cancel(self, body: bytes, project: str, location: str, id: str) -> None:
        self._send_json(self.server.service.cancel(project, location, id))

    def _delete(self, body: bytes, project: str, location: str, id: str) -> None:
        self._send_json(self.server.service.delete(project, location, id))

    def _operation(self, body: bytes, project: str, location: str, op: str) -> None:
        self._send_json(self.server.service.get_operation(project, location, op))

    def _tuning_create(self, body: bytes, project: str, location: str) -> None:
        job = self.server.tuning.create(project, location, self._json_body(body))
        self._send_job(job.to_resource())

    def _tuning_list(self, body: bytes, project: str, location: str) -> None:
        page = self.server.tuning.list(
            project, location, self._param("filter"),
            self._int_param("pageSize") or self._int_param("page_size"),
            self._param("pageToken") or self._param("page_token"),
            self._param("readMask") or self._param("read_mask"))
        if self.int_enums:
            page["hyperparameterTuningJobs"] = [
                encode_enums_as_ints(j) for j in page["hyperparameterTuningJobs"]]
        self._send_json(page)

    def _tuning_get(self, body: bytes, project: str, location: str, id: str) -> None:
        self._send_job(self.server.tuning.get(project, location, id).to_resource())

    def _tuning_cancel(self, body: bytes, project: str, location: str, id: str) -> None:
        self._send_json(self.server.tuning.cancel(project, location, id))

    def _tuning_delete(self, body: bytes, project: str, location: str, id: str) -> None:
        self._send_json(self.server.tuning.delete(project, location, id))

    def _api_logs(self, body: bytes, project: str, location: str, id: str) -> None:
        job = self.server.service.get(project, location, id)
        self._send_log(job.id)

    # -- for people and tools -------------------------------------------------------------

    def _send_log(self, job_id: int) -> None:
        """The job's log (every replica's lines, each prefixed with its name when there are
        several), or one replica's own with ``?replica=workerpool1-0``."""
        tail = self._int_param("tail")
        replica = self._param("replica")
        store = self.server.store
        if replica:
            known = store.replicas_logged(job_id) or ("workerpool0-0",)
            if replica not in known:
                raise ApiError("NOT_FOUND", f"Job {job_id} has no replica {replica!r}; its "
                               f"replicas: {', '.join(known)}.")
        text = store.read_log(job_id, tail, replica=replica)
        self._send(text.encode(), "text/plain; charset=utf-8")

    def _logs(self, body: bytes, id: str) -> None:
        # A CustomJob's log, or a tuning job's (which optimiser ran, each trial's outcome).
        if self.server.store.get(int(id)) is None and \
                self.server.tuning.tunings.get(int(id)) is None:
            raise ApiError("NOT_FOUND", f"No job {id} on this emulator.")
        self._send_log(int(id))

    def _healthz(self, body: bytes) -> None:
        store = self.server.store
        self._send_json({**self.server.health, "status": "ok",
                         "faults": self.server.faults.snapshot(),
                         "running": store.count(["JOB_STATE_PENDING", "JOB_STATE_RUNNING"])})

    def _root(self, body: bytes) -> None:
        self._send(b"", "text/plain", 302, {"Location": "/ui/"})

    def _ui_index(self, body: bytes) -> None:
        jobs = self.server.store.list(limit=UI_JOBS)
        total = self.server.store.count_all()
        tunings = self.server.tuning.tunings.list(limit=UI_JOBS)
        self._send(render_index(jobs, total, tunings).encode(), "text/html; charset=utf-8")

    def _ui_job(self, body: bytes, id: str) -> None:
        job = self.server.store.get(int(id))
        if job is None:
            self._send(f"No job {id} on this emulator.".encode(), "text/plain", 404)
            return
        tail = self._int_param("tail", DEFAULT_TAIL) or DEFAULT_TAIL
        log = self.server.store.read_log(job.id, tail)
        page = render_job(job, log, tail, self.server.store.replicas_logged(job.id),
                          notebook=self._executed_notebook(job) is not None)
        self._send(page.encode(), "text/html; charset=utf-8")

    def _executed_notebook(self, job: Any) -> Path | None:
        base = host_dir(job.body, self.server.store.state_dir)
        path = base / NOTEBOOK if base is not None else None
        return path if path is not None and path.is_file() else None

    def _ui_notebook(self, body: bytes, id: str) -> None:
        """A notebook job's executed notebook (written by the job, also when it failed)."""
        job = self.server.store.get(int(id))
        path = self._executed_notebook(job) if job is not None else None
        if job is None or path is None:
            self._send(f"Job {id} has no executed notebook (yet).".encode(), "text/plain", 404)
            return
        name = re.sub(r"[^A-Za-z0-9._-]", "_", job.display_name) + ".ipynb"
        self._send(path.read_bytes(), "application/x-ipynb+json",
                   headers={"Content-Disposition": f'attachment; filename="{name}"'})


def make_server(port: int, service: JobService, store: JobStore, faults: FaultInjector,
                *, tuning: TuningService, port_fallback: bool = False,
                verbose: bool = False) -> EmulatorHTTPServer:
    """Bind 127.0.0.1:``port`` (any free port if busy and ``port_fallback``)."""
    try:
        server = EmulatorHTTPServer(("127.0.0.1", port), Handler)
    except OSError:
        if not port_fallback:
            raise
        server = EmulatorHTTPServer(("127.0.0.1", 0), Handler)
    server.service = service
    server.tuning = tuning
    server.store = store
    server.faults = faults
    server.verbose = verbose
    server.health = {"pid": os.getpid(), "stateDir": str(store.state_dir),
                     "instance": store.instance,
                     # Where gs:// output locations live (see outputs.py): clients read here.
                     "outputRoot": str(output_root(store.state_dir))}
    return server


def serve_in_thread(server: EmulatorHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="emulator-http", daemon=True)
    thread.start()
    return thread


__all__ = ["EmulatorHTTPServer", "Handler", "make_server", "serve_in_thread"]

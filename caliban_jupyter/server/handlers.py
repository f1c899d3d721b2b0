"""REST handlers of the ``caliban`` server extension, all under ``/caliban/api/``.

Thin: parse the request, call :mod:`.adapter` on the extension's thread pool, write JSON.
Every verb is ``@tornado.web.authenticated`` then ``@authorized`` (a test enumerates
them). A user mistake is a 400 ``{"message"}`` with the message the CLI prints, an
unknown group or job a 404, a failing job service a 502; never a 500 for bad input.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from ..errors import BackendError, CalibanError, DockerError, NotFoundError, UsageError
from . import adapter

T = TypeVar("T")

#: The resource name our verbs are authorized on (jupyter_server's authorizer sees it).
AUTH_RESOURCE = "caliban"
#: Groups per page of ``GET groups`` unless ``page_size`` says otherwise, and at most.
PAGE_SIZE, MAX_PAGE_SIZE = 20, 200


def _status_of(error: CalibanError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, (BackendError, DockerError)):
        return 502  # the job service or the engine failed, not the request
    return 400


class CalibanHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every caliban handler: JSON errors, the thread pool, the shared state."""

    auth_resource = AUTH_RESOURCE

    @property
    def app(self) -> Any:
        """The CalibanApp (server/app.py, which imports this module for its routes)."""
        return self.extensionapp

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    async def write_cached(self, key: Any, build: Callable[[], Any]) -> None:
        """The answer of ``key``, computed once per change for every poller; a poller
        that already has it (``If-None-Match``) gets a 304."""
        body, etag = await self.app.cache.get(key, self.app.answers_version(), build)
        self.set_header("Etag", etag)
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.finish(body)

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the extension's thread pool (it blocks)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.app.executor, lambda: fn(*args, **kwargs))

    def body(self) -> dict[str, Any]:
        """The JSON object sent (``{}`` for an empty body)."""
        raw = self.request.body
        if not raw or not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"the request body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise UsageError(f"the request body must be a JSON object, not "
                             f"{type(data).__name__}")
        return data

    def int_argument(self, name: str, default: int | None, *, least: int = 0) -> int | None:
        value = self.get_query_argument(name, None)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            number = least - 1
        if number < least:
            raise UsageError(f"{name} takes a whole number of at least {least}, not {value!r}")
        return number

    def flag_argument(self, name: str) -> bool:
        return self.get_query_argument(name, "").lower() in ("1", "true", "yes")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, CalibanError):
            return  # a user-facing message, already in the reply: no traceback in the log
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, CalibanError):
            self.clear()
            self.set_header("Content-Type", "application/json")
            self.fail(_status_of(exc), str(exc))
            return
        super().write_error(status_code, **kwargs)


class StatusHandler(CalibanHandler):
    """``GET status``: the extension answers (the lab extension checks it is installed)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        from .. import __version__

        self.write_json({"version": __version__, "root": str(self.app.root_dir),
                         "history": str(self.app.history.path),
                         "refresher": self.app.refresher.stats.to_json()})


class GroupsHandler(CalibanHandler):
    """``GET groups?page_size=N&page_token=T``: every recorded group, newest first."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        page_size = self.int_argument("page_size", PAGE_SIZE, least=1)
        assert page_size is not None
        page_size = min(page_size, MAX_PAGE_SIZE)
        token = self.get_query_argument("page_token", "")
        if token and not token.isdigit():
            raise UsageError(f"page_token {token!r} is not one this server gave; start "
                             "again without it")
        offset = int(token or 0)
        self.app.refresher.touch()
        await self.write_cached(("groups", page_size, offset),
                                lambda: self.call(self.app.list_groups, page_size, offset))


class GroupHandler(CalibanHandler):
    """``GET groups/{xgroup}[?all_attempts=1&full=1]``: a group with its jobs."""

    @tornado.web.authenticated
    @authorized
    async def get(self, xgroup: str) -> None:
        self.app.refresher.touch()
        options = {"all_attempts": self.flag_argument("all_attempts"),
                   "full": self.flag_argument("full")}
        await self.write_cached(("group", xgroup, *options.values()),
                                lambda: self.call(self.app.group_detail, xgroup, **options))


class GroupActionHandler(CalibanHandler):
    """``POST groups/{xgroup}/stop`` and ``.../resubmit``; body optional:
    ``{"jobs": [display_name, ...]}``, ``{"all_jobs": true}`` (resubmit)."""

    @tornado.web.authenticated
    @authorized
    async def post(self, xgroup: str, action: str) -> None:
        body = self.body()
        allowed = {"stop": {"jobs"}, "resubmit": {"jobs", "all_jobs"}}[action]
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise UsageError(f"{action}: unknown field {unknown[0]!r}; it takes "
                             f"{', '.join(sorted(allowed))}")
        if action == "stop":
            records = await self.call(adapter.stop, self.app.history, xgroup,
                                      self.app.settings_now(), jobs=body.get("jobs"))
        else:
            records = await self.call(adapter.resubmit, self.app.history, xgroup,
                                      self.app.settings_now(), jobs=body.get("jobs"),
                                      all_jobs=body.get("all_jobs", False))
        self.app.refresher.wake(xgroup)
        self.write_json({"xgroup": xgroup, "jobs": [adapter.job_json(r) for r in records]})


class LogsHandler(CalibanHandler):
    """``GET jobs/{display_name}/logs?tail=N[&xgroup=X]``: ``{"text": ...}``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job: str) -> None:
        tail = self.int_argument("tail", None, least=0)
        xgroup = self.get_query_argument("xgroup", None) or None
        text = await self.call(adapter.logs, self.app.history, job, self.app.settings_now(),
                               xgroup=xgroup, tail=tail)
        self.write_json({"job": job, "text": text})


class CatalogHandler(CalibanHandler):
    """``GET catalog[?kind=GPU&accelerator=V100&count=2&region=R]``: the choices a form
    offers given what is picked."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        arg = self.get_query_argument
        self.write_json(adapter.catalog(
            kind=arg("kind", "GPU"), accelerator=arg("accelerator", None) or None,
            count=self.int_argument("count", None, least=1), region=arg("region", None) or None))


class FlagsHandler(CalibanHandler):
    """``GET flags``: the flag schema (``caliban cloud``'s flags, what each takes and which
    surfaces take it), which the lab dialog renders its fields from. Shape:
    ``flags.schema.json`` beside this module. A client that has it gets a 304."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        from ..flags import schema_json

        body = json.dumps(schema_json())
        self.set_header("Etag", f'"{hashlib.sha1(body.encode()).hexdigest()}"')
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.finish(body)


class ConfigHandler(CalibanHandler):
    """``GET config[?notebook=PATH&nogpu=1]``: the effective settings and their sources."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        notebook = self.get_query_argument("notebook", None)
        cwd = (adapter.confine(self.app.root_dir, notebook).parent if notebook
               else self.app.root_dir)
        self.write_json(await self.call(adapter.config, cwd,
                                        nogpu=self.flag_argument("nogpu")))


class ParametersHandler(CalibanHandler):
    """``GET parameters?notebook=PATH``: what the cell tagged ``parameters`` assigns."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        path = adapter.confine(self.app.root_dir, self.get_query_argument("notebook", None))
        parameters = await self.call(adapter.notebook_parameters, path)
        self.write_json({"parameters": parameters})


class SubmissionsHandler(CalibanHandler):
    """``POST submissions`` ``{"notebook", "options", "script_args", "dry_run"}``.

    With ``dry_run``: 200 with the jobs and their CustomJob bodies, nothing built.
    Otherwise 202 with the ``xgroup`` once the plan is valid; the build and the
    submission go on in the background and the group fills in (``GET groups/{xgroup}``).
    """

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        unknown = sorted(set(body) - {"notebook", "options", "script_args", "dry_run"})
        if unknown:
            raise UsageError(f"unknown field {unknown[0]!r}; a submission takes notebook, "
                             "options, script_args and dry_run")
        dry = body.get("dry_run", False)
        if not isinstance(dry, bool):
            raise UsageError(f'"dry_run" takes true or false, not {dry!r}')
        plan = await self.call(adapter.plan_notebook, self.app.root_dir, body.get("notebook"),
                               body.get("options", {}), script_args=body.get("script_args", []),
                               dry_run=dry)
        if plan.request.dry_run:
            self.write_json(adapter.dry_run(plan))
            return
        await self.call(adapter.refuse_over_max_cost, plan)
        submission = self.app.submissions.start(plan, str(body["notebook"]))
        self.set_header("Location", self.app.api_url(f"groups/{submission.xgroup}"))
        self.write_json({"xgroup": submission.xgroup, "jobs": [],
                         "submission": submission.to_json()}, status=202)


#: (route under /caliban/api/, handler); ``xgroup`` names are label values, job names
#: display names (anything but a slash).
ROUTES: list[tuple[str, type[CalibanHandler]]] = [
    (r"status", StatusHandler),
    (r"groups", GroupsHandler),
    (r"groups/(?P<xgroup>[^/]+)", GroupHandler),
    (r"groups/(?P<xgroup>[^/]+)/(?P<action>stop|resubmit)", GroupActionHandler),
    (r"jobs/(?P<job>[^/]+)/logs", LogsHandler),
    (r"catalog", CatalogHandler),
    (r"config", ConfigHandler),
    (r"flags", FlagsHandler),
    (r"parameters", ParametersHandler),
    (r"submissions", SubmissionsHandler),
]

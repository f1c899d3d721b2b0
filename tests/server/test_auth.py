"""Every route needs the server's authentication and authorization.

Three layers: the code (each verb of each handler is ``@tornado.web.authenticated`` then
``@authorized``, and no route escapes the list checked), a request without a valid
token (403), and a user the server's authorizer refuses (403).
"""

from __future__ import annotations

import inspect

import pytest
import tornado.web
from jupyter_server.auth import Authorizer
from jupyter_server.base.handlers import APIHandler
from traitlets.config import Config

from caliban_jupyter.server.handlers import ROUTES, CalibanHandler

from .conftest import EXTENSION

VERBS = ("get", "head", "post", "put", "patch", "delete")
#: One request per route: (method, path under /caliban/api/).
REQUESTS = [
    ("GET", "status"), ("GET", "groups"), ("GET", "groups/g-new"),
    ("POST", "groups/g-new/stop"), ("POST", "groups/g-new/resubmit"),
    ("GET", "jobs/caliban_t_g-new_1/logs"), ("GET", "catalog"), ("GET", "config"), ("GET", "flags"),
    ("GET", "parameters"), ("POST", "submissions"),
]


def missing_decorators(handler: type) -> list[str]:
    """The verbs ``handler`` defines that are not authenticated-then-authorized."""
    problems = []
    for verb in VERBS:
        method = getattr(handler, verb)
        if method is getattr(APIHandler, verb, None) or method is getattr(
                tornado.web.RequestHandler, verb):
            continue  # not implemented by us: tornado answers 405
        outer = method.__code__.co_qualname
        inner = getattr(method, "__wrapped__", None)
        inner_name = inner.__code__.co_qualname if inner is not None else ""
        if not outer.startswith("authenticated") or not inner_name.startswith("authorized"):
            problems.append(f"{handler.__name__}.{verb}")
    return problems


def test_every_handler_verb_is_authenticated_then_authorized(jp_serverapp):
    registered = set()
    for rule in jp_serverapp.web_app.default_router.rules:
        for sub in getattr(rule.target, "rules", []):
            handler = sub.target
            if inspect.isclass(handler) and "/caliban/" in str(sub.matcher.regex.pattern):
                registered.add(handler)
    # Every handler the server routes to under /caliban/ is one of ROUTES (none escapes
    # the check below), and they are all ours.
    assert registered == {h for _, h in ROUTES}
    assert all(issubclass(h, CalibanHandler) for h in registered)
    assert [p for h in registered for p in missing_decorators(h)] == []


def test_the_check_catches_a_handler_without_them():
    class Bare(CalibanHandler):
        async def post(self):
            pass

    class OnlyAuthenticated(CalibanHandler):
        @tornado.web.authenticated
        def get(self):
            pass

    assert missing_decorators(Bare) == ["Bare.post"]
    assert missing_decorators(OnlyAuthenticated) == ["OnlyAuthenticated.get"]


def test_routes_cover_every_request_checked_below():
    assert len(REQUESTS) == len(ROUTES) + 1  # groups/{x}/{stop|resubmit}: one route


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_a_request_without_a_valid_token_is_refused(api, seeded, method, path):
    for auth in ("token not-the-token", ""):
        status, body = await api(method, *path.split("/"), headers={"Authorization": auth},
                                 body={} if method == "POST" else None)
        assert status == 403, (path, auth, body)


class DenyCaliban(Authorizer):
    """Allows everything but the caliban resource."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "caliban"


@pytest.fixture
def deny_config() -> Config:
    return Config({"ServerApp": {"jpserver_extensions": {EXTENSION: True},
                                 "authorizer_class": DenyCaliban}})


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_a_user_the_authorizer_refuses_gets_403(jp_configurable_serverapp, deny_config,
                                                      jp_argv, seeded, method, path):
    # A second server instance with the denying authorizer: its own fetch client.
    import json
    import urllib.parse

    from tornado.httpclient import AsyncHTTPClient

    app = jp_configurable_serverapp(config=deny_config, argv=jp_argv)
    assert isinstance(app.authorizer, DenyCaliban)
    # The handlers run in this process: call them through the app's router.
    from tornado.testing import bind_unused_port

    sock, port = bind_unused_port()
    server = tornado.httpserver.HTTPServer(app.web_app)
    server.add_sockets([sock])
    try:
        url = (f"http://127.0.0.1:{port}{app.base_url}caliban/api/"
               f"{urllib.parse.quote(path)}")
        response = await AsyncHTTPClient().fetch(
            url, method=method, raise_error=False,
            headers={"Authorization": f"token {app.identity_provider.token}"},
            body=json.dumps({}) if method == "POST" else None)
        assert response.code == 403, (path, response.body)
        # ... while the same token reaches the server's own API.
        ok = await AsyncHTTPClient().fetch(
            f"http://127.0.0.1:{port}{app.base_url}api/status", raise_error=False,
            headers={"Authorization": f"token {app.identity_provider.token}"})
        assert ok.code == 200
    finally:
        server.stop()

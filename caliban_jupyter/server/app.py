"""The ``caliban`` Jupyter server extension: REST routes over the job groups, one refresher.

Enabled on install (``etc/jupyter/jupyter_server_config.d/caliban_jupyter.json``), so
``jupyter lab`` serves ``/caliban/api/...`` with nothing to configure. Settings are
traitlets (``--CalibanApp.refresh_interval=5`` or ``c.CalibanApp.refresh_interval``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Float, Int

from ..errors import NotFoundError
from ..history import History
from . import adapter
from .cache import HistoryVersion, ResponseCache
from .handlers import ROUTES
from .refresher import Refresher
from .submissions import Submissions

if TYPE_CHECKING:
    from ..settings import Settings

API = "caliban/api"


class CalibanApp(ExtensionApp):
    """Serves caliban's experiment groups to JupyterLab and Notebook 7."""

    name = "caliban"
    description = "caliban-jupyter: experiment groups, logs and notebook submissions"
    load_other_extensions = True

    refresh_interval = Float(2.0, config=True, help=(
        "Seconds between refreshes of an unfinished group that just changed."))
    max_refresh_interval = Float(30.0, config=True, help=(
        "Longest wait between refreshes of an unfinished group that stopped changing."))
    refresh_backoff = Float(1.5, config=True, help=(
        "Factor the wait grows by after each refresh that changed nothing."))
    idle_after = Float(60.0, config=True, help=(
        "Seconds after the last client poll that groups are still refreshed; with no "
        "client looking, the server makes no calls to the job service."))
    workers = Int(4, config=True, help="Threads for builds, submissions and job service calls.")

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        self.root_dir = Path(self.serverapp.root_dir).resolve()
        self.executor = ThreadPoolExecutor(max_workers=self.workers,
                                           thread_name_prefix="caliban-server")
        self.history = History()
        self.history_version = HistoryVersion(self.history.path)
        self.cache = ResponseCache()
        self.refresher = Refresher(
            self.history, self.settings_now, self.executor, interval=self.refresh_interval,
            max_interval=self.max_refresh_interval, backoff=self.refresh_backoff,
            idle_after=self.idle_after, log=self.log)
        self.submissions = Submissions(self.executor, on_done=self.refresher.wake,
                                       log=self.log)

    def initialize_handlers(self) -> None:
        self.handlers.extend((url_path_join(API, pattern), handler)
                             for pattern, handler in ROUTES)

    def settings_now(self) -> Settings:
        """The settings of the server's root, read again each time (files may change)."""
        return adapter.server_settings(self.root_dir)

    def api_url(self, path: str) -> str:
        assert self.serverapp is not None
        return url_path_join(self.serverapp.base_url, API, path)

    def answers_version(self) -> tuple[int, int, int]:
        """Changes whenever an answer about groups may change (see :mod:`.cache`)."""
        return (self.history_version(), self.submissions.version, self.refresher.version)

    def list_groups(self, page_size: int, offset: int) -> dict[str, Any]:
        """A page of groups; the first page starts with submissions still building."""
        groups, next_offset = adapter.list_groups(self.history, page_size=page_size,
                                                  offset=offset)
        listed = {g["xgroup"] for g in groups}
        pending = [] if offset else [
            s.group_json() for s in self.submissions.all()
            if s.xgroup not in listed and self.history.group(s.xgroup) is None]
        reply: dict[str, Any] = {"groups": pending + [self.decorate(g) for g in groups]}
        if next_offset is not None:
            reply["next_page_token"] = str(next_offset)
        return reply

    def group_detail(self, xgroup: str, *, all_attempts: bool, full: bool
                     ) -> dict[str, Any]:
        """A group and its jobs (a submission still building: its jobs are [])."""
        try:
            group = adapter.group_detail(self.history, xgroup, all_attempts=all_attempts,
                                         full=full)
        except NotFoundError:
            submission = self.submissions.get(xgroup)
            if submission is None:
                raise
            group = {**submission.group_json(), "jobs": []}
        return self.decorate(group)

    def decorate(self, group: dict[str, Any]) -> dict[str, Any]:
        """Add what this server knows beyond the history: refresh state, submission."""
        group.update(self.refresher.group_state(group["xgroup"]))
        submission = self.submissions.get(group["xgroup"])
        if submission is not None:
            group["submission"] = submission.to_json()
        return group

    async def stop_extension(self) -> None:
        await self.refresher.stop()
        # A refresh or build in flight finishes in its thread; the history stays open
        # for it (the process is ending).
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.history_version.close()

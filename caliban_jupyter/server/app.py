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

from ..history import History
from . import adapter
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
        self.root_dir = Path(self.serverapp.root_dir).resolve()
        self.executor = ThreadPoolExecutor(max_workers=self.workers,
                                           thread_name_prefix="caliban-server")
        self.history = History()
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
        return url_path_join(self.serverapp.base_url, API, path)

    def decorate(self, group: dict[str, Any]) -> dict[str, Any]:
        """Add what this server knows beyond the history: refresh state, submission."""
        group.update(self.refresher.group_state(group["xgroup"]))
        submission = self.submissions.get(group["xgroup"])
        if submission is not None:
            group["submission"] = submission.to_json()
        return group

    async def stop_extension(self) -> None:
        await self.refresher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.history.close()

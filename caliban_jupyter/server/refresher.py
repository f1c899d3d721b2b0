"""The one refresher of a Jupyter server: keeps the unfinished groups of the history fresh.

Every browser tab reads groups from the SQLite history, which kernels, the CLI and this
server all write; none of them asks the job service itself. The refresher is the only
reader of the job service in the server process: each round, it finds the groups with a
job not yet in a final state (whoever submitted them) and refreshes each one that is due,
with one listing (one list call per page), so ten tabs cost the service what one does.

A group that did not change waits longer before its next refresh (``backoff`` up to
``max_interval``); a change, or an action taken through the server, makes it due again.
The refresher runs only while someone looks: a round starts only if a client polled in
the last ``idle_after`` seconds, so a server nobody watches makes no calls at all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CalibanError
from ..history import now
from ..service.polling import next_interval
from . import adapter

if TYPE_CHECKING:
    from ..history import History
    from ..service.groups import JobGroup
    from ..settings import Settings


@dataclass
class _Due:
    """When a group is next refreshed, and what its last refresh said."""

    interval: float
    at: float = 0.0
    refreshed: str | None = None
    error: str | None = None
    fingerprint: Any = None


@dataclass
class RefresherStats:
    """What the refresher did (``GET /caliban/api/status`` shows it; tests and bench read
    it)."""

    rounds: int = 0
    refreshes: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "refreshes": self.refreshes, "errors": self.errors}


class Refresher:
    """Refreshes the history's unfinished groups in the background, on demand.

    Parameters
    ----------
    history
        The server's history (shared with the handlers).
    settings
        Resolves each group's backend (its recorded backend, project and region win).
    executor
        Where the blocking refreshes run.
    interval, max_interval, backoff
        Seconds between two refreshes of a group: ``interval`` after a change, times
        ``backoff`` after each refresh that changed nothing, at most ``max_interval``.
    idle_after
        Seconds after the last client poll (:meth:`touch`) the refresher keeps working.
    group_for
        The handle of a group (default: the recorded group on its service, one
        connection per service, project and region).
    """

    def __init__(self, history: History, settings: Callable[[], Settings], executor: Executor,
                 *, interval: float = 2.0, max_interval: float = 30.0, backoff: float = 1.5,
                 idle_after: float = 60.0, log: logging.Logger | None = None,
                 group_for: Callable[[str], JobGroup] | None = None):
        self.history = history
        self._settings = settings
        self._executor = executor
        self.interval, self.max_interval, self.backoff = interval, max_interval, backoff
        self.idle_after = idle_after
        self.log = log or logging.getLogger(__name__)
        self.stats = RefresherStats()
        self.version = 0  # changes when a group's refresh error appears or goes
        self._due: dict[str, _Due] = {}
        self.group_for = group_for or self._recorded_group
        self._clients: Any = None
        self._lock = threading.Lock()
        self._last_demand = float("-inf")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- what handlers call ---------------------------------------------------------------

    def touch(self) -> None:
        """A client is looking: keep refreshing (starting the loop on first use)."""
        idle = not self._active()
        self._last_demand = time.monotonic()
        self._ensure_running()
        if idle and self._wake is not None:
            self._wake.set()

    def wake(self, xgroup: str | None = None) -> None:
        """Refresh now: ``xgroup`` (or every group) is due at once (after an action)."""
        with self._lock:
            for name, due in self._due.items():
                if xgroup is None or name == xgroup:
                    due.at, due.interval = 0.0, self.interval
        if self._wake is not None:
            self._wake.set()

    def group_state(self, xgroup: str) -> dict[str, Any]:
        """``{"refresh_error"}`` of a group this refresher follows ({} else)."""
        with self._lock:
            due = self._due.get(xgroup)
            if due is None:
                return {}
            return {"refresh_error": due.error}

    # -- the loop -------------------------------------------------------------------------

    def _active(self) -> bool:
        return time.monotonic() - self._last_demand < self.idle_after

    def _ensure_running(self) -> None:
        if self._task is not None and not self._task.done() or self._stopping:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop (the refresh in flight finishes in its thread)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while not self._stopping:
            delay = self.max_interval
            if self._active():
                try:
                    delay = await loop.run_in_executor(self._executor, self.run_round)
                except Exception:  # a bug must not end the refresher: log it, go on
                    self.log.exception("caliban: refresh round failed")
                    delay = self.max_interval
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.05))
            except asyncio.TimeoutError:
                pass

    def run_round(self) -> float:
        """Refresh every unfinished group that is due; returns seconds until the next due.

        Blocking; the loop runs it on the executor (tests and benchmarks may call it).
        """
        self.stats.rounds += 1
        started = time.monotonic()
        groups = adapter.unfinished_groups(self.history)
        with self._lock:
            # Finished groups keep their entry (when they were last refreshed, by whom
            # shows in the panel) but are not refreshed again.
            for name in groups:
                self._due.setdefault(name, _Due(self.interval))
            due_now = [n for n in groups if self._due[n].at <= started]
        for name in due_now:
            self._refresh(name)
        with self._lock:
            pending = [self._due[n].at for n in groups]
        return min(pending) - time.monotonic() if pending else self.max_interval

    def _refresh(self, xgroup: str) -> None:
        before = self._fingerprint(xgroup)
        error = None
        try:
            self.group_for(xgroup).refresh()
        except CalibanError as e:  # the history keeps its last states; try again later
            error = str(e)
            self.stats.errors += 1
            self.log.warning("caliban: could not refresh group %s: %s", xgroup, e)
        self.stats.refreshes += 1
        changed = self._fingerprint(xgroup) != before
        with self._lock:
            due = self._due.setdefault(xgroup, _Due(self.interval))
            due.interval = next_interval(due.interval, changed and error is None,
                                         interval=self.interval,
                                         max_interval=self.max_interval, backoff=self.backoff)
            due.at = time.monotonic() + due.interval
            if due.error != error:
                self.version += 1
            due.refreshed, due.error = now(), error

    def _fingerprint(self, xgroup: str) -> Any:
        return self.history.state_counts([xgroup])[xgroup], self.history.count_jobs(xgroup)

    def _recorded_group(self, xgroup: str) -> JobGroup:
        if self._clients is None:
            self._clients = adapter.backend_clients()
        return adapter.recorded_group(self.history, xgroup, self._settings(), self._clients)

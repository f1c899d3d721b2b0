"""The live job table: one row per job, refreshed in the background until all jobs finish.

Design, for groups of thousands of jobs:

- One ``refresh_group`` per refresh (one list call per page), from a daemon thread, so the
  kernel is never blocked; the interval backs off while nothing changes.
- Rows keep their widgets. A row's cells are one ``HTML`` widget whose value is a pure
  function of its record (:func:`~caliban_jupyter.widgets._rows.row_html`), so only rows
  whose record changed send anything to the browser.
- Rows are paged (``page_size``); widgets exist only for pages that were shown.
"""

from __future__ import annotations

import html
import operator
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle

from ..errors import CalibanError, UsageError
from ..records import RESUBMITTABLE_STATES, JobRecord, latest_attempts, state_counts
from ..service.polling import next_interval
from . import _rows

__all__ = ["GroupSource", "JobTable"]


class GroupSource(Protocol):
    """What a :class:`JobTable` needs from the job service: a
    :class:`~caliban_jupyter.service.groups.JobGroup` (tests hand it a fake)."""

    xgroup: str

    def refresh(self) -> list[JobRecord]:
        """Every record of the group, all attempts, oldest attempt first per index."""
        ...

    def stop(self, jobs: list[JobRecord]) -> Any:
        """Ask the service to cancel these jobs."""
        ...

    def resubmit(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """Submit these jobs again (same image and args); return the new records."""
        ...

    def logs(self, job: JobRecord, tail: int | None = None) -> str:
        """The last ``tail`` lines of a job's output."""
        ...


def source_for(group: Any, **kwargs: Any) -> GroupSource:
    """The JobGroup of an experiment group name or of a Sweep; any other object with
    ``refresh`` and ``xgroup`` is a source already (tests, custom services)."""
    if isinstance(group, str):
        from ..service.groups import JobGroup

        return JobGroup(group, **kwargs)
    if hasattr(group, "group") and hasattr(group, "xgroup"):
        return group.group  # a Sweep: the table asks the same group (and backend)
    if hasattr(group, "refresh") and hasattr(group, "xgroup"):
        return group
    raise TypeError(f"JobTable needs an experiment group name or a Sweep, not "
                    f"{type(group).__name__}")

_BUTTON = {"width": "30px", "height": "24px", "padding": "0"}


class _Row:
    """The widgets of one job: its cells and its three actions."""

    def __init__(self, table: JobTable, record: JobRecord):
        self.index = record.index
        self.record = record
        # Layouts and styles are widgets too (a comm each): rows share the table's, which
        # makes a row 5 comms instead of 14. They are never changed per row.
        shared = table._shared
        self.cells = w.HTML(layout=shared["cells"], style=shared["html"])
        self.stop = w.Button(icon="stop", tooltip="stop this job", layout=shared["button"],
                             style=shared["button_style"])
        self.resubmit = w.Button(icon="repeat", tooltip="resubmit this job",
                                 layout=shared["button"], style=shared["button_style"])
        self.logs = w.Button(icon="list", tooltip="show the end of this job's log",
                             layout=shared["button"], style=shared["button_style"])
        self.stop.on_click(lambda _: table._act("stop", self))
        self.resubmit.on_click(lambda _: table._act("resubmit", self))
        self.logs.on_click(lambda _: table._act("logs", self))
        self.box = w.HBox([self.cells, self.stop, self.resubmit, self.logs],
                          layout=shared["row"])
        self.box.add_class("caliban-row")
        self.update(record, table._columns, force=True)

    def update(self, record: JobRecord, columns: list[str], force: bool = False) -> bool:
        """Show ``record``; returns True when anything was sent to the browser."""
        if record == self.record and not force:
            return False
        self.record = record
        # Assigning an equal value sends nothing (traitlets compares), so flags are cheap.
        self.cells.value = _rows.row_html(record, columns)
        self.stop.disabled = record.is_terminal or not record.resource_name
        self.resubmit.disabled = record.state not in RESUBMITTABLE_STATES or record.is_tuning
        self.logs.disabled = not record.resource_name
        return True


class JobTable(w.VBox):
    """A live table of an experiment group's jobs.

    Parameters
    ----------
    group
        The experiment group's name, a :class:`~caliban_jupyter.notebook.sweep.Sweep`, or a
        :class:`~caliban_jupyter.service.groups.JobGroup` (any :class:`GroupSource`).
    records
        Records already known (e.g. returned by the submission), shown before the first
        refresh.
    autostart
        Start refreshing in the background now (stops by itself once every job is
        terminal). With False, call :meth:`refresh` or :meth:`start` yourself.
    interval, max_interval, backoff
        Seconds between refreshes: ``interval`` after a change, multiplied by ``backoff``
        after each refresh that changed nothing, up to ``max_interval``.
    page_size
        Rows shown at once (None: all of them).
    log_tail
        Lines of log shown by a row's log button.
    **source_kwargs
        ``backend``, ``history``, ``settings`` for the group of a name.
    """

    def __init__(self, group: Any, *, records: list[JobRecord] | None = None,
                 autostart: bool = True, interval: float = 2.0, max_interval: float = 30.0,
                 backoff: float = 1.5, page_size: int | None = 50, log_tail: int = 40,
                 **source_kwargs: Any):
        self.source: GroupSource = source_for(group, **source_kwargs)
        self.xgroup = self.source.xgroup
        self.interval, self.max_interval, self.backoff = interval, max_interval, backoff
        self.page_size, self.log_tail = page_size, log_tail
        self.refreshes = 0
        self.errors: list[str] = []
        self._records: dict[int, JobRecord] = {}
        self._rows: dict[int, _Row] = {}
        self._columns: list[str] = []
        self._page = 0
        self._scope = f"caliban-t-{uuid.uuid4().hex[:8]}"
        self._shared = {
            "cells": w.Layout(flex="1 1 auto", min_width="0"), "html": HTMLStyle(),
            "button": w.Layout(**_BUTTON), "button_style": w.ButtonStyle(),
            "row": w.Layout(align_items="center"),
        }
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

        self.title = w.HTML(f"<b>experiment group {html.escape(self.xgroup)}</b>")
        self.summary = w.HTML()
        self.summary.add_class("caliban-summary")
        self.status = w.HTML()
        self.header = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.rows_box = w.VBox()
        self.stop_all = w.Button(description="Stop all", icon="stop",
                                 tooltip="stop every job that has not finished")
        self.resubmit_failed = w.Button(description="Resubmit failed", icon="repeat",
                                        tooltip="resubmit FAILED, CANCELLED and "
                                                "NOT_SUBMITTED jobs")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.prev_page = w.Button(icon="chevron-left", layout=w.Layout(width="36px"))
        self.next_page = w.Button(icon="chevron-right", layout=w.Layout(width="36px"))
        self.page_label = w.HTML()
        self.log_view = w.HTML(layout=w.Layout(display="none"))
        self.log_view.add_class("caliban-log")
        self.stop_all.on_click(lambda _: self._act("stop", None))
        self.resubmit_failed.on_click(lambda _: self._act("resubmit", None))
        self.refresh_button.on_click(lambda _: self._poke())
        self.prev_page.on_click(lambda _: self.show_page(self._page - 1))
        self.next_page.on_click(lambda _: self.show_page(self._page + 1))
        spacer = w.Box(layout=w.Layout(width="102px", flex="0 0 auto"))
        self.pager = w.HBox([self.prev_page, self.page_label, self.next_page],
                            layout=w.Layout(display="none", align_items="center"))
        super().__init__(children=[
            self.title,
            w.HBox([self.summary, self.stop_all, self.resubmit_failed, self.refresh_button],
                   layout=w.Layout(align_items="center")),
            self.status,
            w.HBox([self.header, spacer]),
            self.rows_box,
            self.pager,
            self.log_view,
        ])
        self.add_class("caliban-table")
        self.add_class(self._scope)
        if records:
            self._apply(records)
        if autostart:
            self.start()

    # -- data -----------------------------------------------------------------------------

    @property
    def records(self) -> list[JobRecord]:
        """The latest attempt of each job, in index order."""
        with self._lock:
            return [self._records[i] for i in sorted(self._records)]

    def states(self) -> dict[str, int]:
        """How many jobs are in each state (each job once, by its latest attempt)."""
        return state_counts(self.records)

    @property
    def done(self) -> bool:
        """True once every job is terminal (or was never submitted)."""
        records = self.records
        return bool(records) and all(r.is_terminal or not r.is_submitted for r in records)

    def row(self, index: int) -> _Row:
        """The row widgets of job ``index`` (1-based), created if its page was not shown.

        Raises
        ------
        UsageError
            When ``index`` is not the index of a job of the table.
        """
        with self._lock:
            return self._row(self._check_index(index))

    def _check_index(self, index: Any) -> int:
        """``index`` as an int if it names a job of the table, else one clear error (never
        a row without a record: the actions would take it for the whole group)."""
        with self._lock:
            known = sorted(self._records)
        try:
            number = None if isinstance(index, bool) else operator.index(index)
        except TypeError:
            number = None
        if number is None:
            raise UsageError(f"job index {index!r}: pass a job's number (an int from the "
                             "table's # column)")
        if number not in known:
            where = f"{known[0]} to {known[-1]}" if known else "none yet: refresh first"
            raise UsageError(f"no job {number} in experiment group {self.xgroup} (its jobs "
                             f"are numbered {where}); call stop() or resubmit() without an "
                             "index to act on the whole group")
        return number

    # -- refreshing ---------------------------------------------------------------------

    def refresh(self) -> int:
        """One refresh (one ``refresh_group``); returns the number of rows redrawn."""
        records = self.source.refresh()
        with self._lock:
            self.refreshes += 1
            return self._apply(records)

    def start(self) -> None:
        """Refresh in a background thread until every job is terminal or :meth:`close`."""
        with self._lock:
            if self._closing.is_set() or (self._thread is not None
                                          and self._thread.is_alive()):
                return  # closed for good, or already refreshing
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"caliban-table-{self.xgroup}")
            self._thread.start()

    @property
    def running(self) -> bool:
        """True while the background refresh thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop refreshing and close every widget of the table."""
        if not hasattr(self, "_closing"):  # Widget.__del__ of a half-built table
            return super().close()
        self._closing.set()
        self._wake.set()
        with self._lock:
            for row in self._rows.values():
                for widget in (row.cells, row.stop, row.resubmit, row.logs, row.box):
                    widget.close()
            self._rows.clear()
            for shared in self._shared.values():
                shared.close()
        super().close()

    def _poke(self) -> None:
        """Refresh now (and restart the thread if it had stopped)."""
        self._wake.set()
        self.start()

    def _loop(self) -> None:
        delay = self.interval
        while not self._closing.is_set():
            try:
                changed = self.refresh()
            except CalibanError as e:
                # A failed listing leaves the rows as they were; say so and retry later.
                self._say(f"refresh failed, retrying: {e}", error=True)
                changed = 0
            else:
                if self.status.value.startswith("<span class='refresh-error'"):
                    self.status.value = ""
            if self.done:
                return
            delay = next_interval(delay, bool(changed), interval=self.interval,
                                  max_interval=self.max_interval, backoff=self.backoff)
            self._wait(delay)

    def _wait(self, delay: float) -> None:
        """Sleep until the next refresh, or until an action or Refresh wakes us."""
        self._wake.wait(delay)
        self._wake.clear()

    def _apply(self, records: list[JobRecord]) -> int:
        if self._closing.is_set():
            return 0  # closed while a listing or an action was under way: no widgets left
        self._records.update((r.index, r) for r in latest_attempts(records))
        columns = _rows.varying_keys(self._records.values())
        force = columns != self._columns
        if force:
            self._columns = columns
            self.header.value = _rows.header_html(columns, self._scope)
        redrawn = 0
        for i in self._visible():
            row = self._rows.get(i)
            if row is None:
                redrawn += 1  # drawn for the first time by _show_rows
            else:
                redrawn += row.update(self._records[i], columns, force)
        self._show_rows()
        self.summary.value = html.escape(f"{_rows.summary_text(self.records)} · "
                                         f"{_rows.cost_summary(self.records)}")
        return redrawn

    # -- paging -------------------------------------------------------------------------

    def _visible(self) -> list[int]:
        indices = sorted(self._records)
        if self.page_size is None:
            return indices
        start = self._page * self.page_size
        return indices[start:start + self.page_size]

    def _row(self, index: int) -> _Row:
        """The row of a recorded job (callers pass indices of ``self._records`` only)."""
        row = self._rows.get(index)
        if row is None:
            row = self._rows[index] = _Row(self, self._records[index])
        else:
            row.update(self._records[index], self._columns)
        return row

    def _show_rows(self) -> None:
        boxes = tuple(self._row(i).box for i in self._visible())
        if boxes != self.rows_box.children:
            self.rows_box.children = boxes
        pages = self._pages()
        self.pager.layout.display = None if pages > 1 else "none"
        self.page_label.value = f"page {self._page + 1} of {pages}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = self._page >= pages - 1

    def _pages(self) -> int:
        if self.page_size is None:
            return 1
        return max(1, -(-len(self._records) // self.page_size))

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based; clamped)."""
        with self._lock:
            self._page = max(0, min(page, self._pages() - 1))
            self._show_rows()

    # -- actions ------------------------------------------------------------------------

    def stop(self, index: int | None = None) -> None:
        """Cancel job ``index`` (1-based), or with no index every unfinished job; waits for
        the call. An index naming no job raises :class:`UsageError`."""
        self._run("stop", None if index is None else self.row(index))

    def resubmit(self, index: int | None = None) -> None:
        """Resubmit job ``index``, or with no index every FAILED/CANCELLED/NOT_SUBMITTED
        job. An index that names no job raises :class:`UsageError`."""
        self._run("resubmit", None if index is None else self.row(index))

    def show_logs(self, index: int) -> str:
        """Show (and return) the end of job ``index``'s log below the table."""
        self._run("logs", self.row(index))
        return self._log_text

    def _act(self, what: str, row: _Row | None) -> None:
        # Button callbacks run on the kernel's main thread: hand the network call off.
        threading.Thread(target=self._run, args=(what, row), daemon=True,
                         name=f"caliban-table-{what}").start()

    def _run(self, what: str, row: _Row | None) -> None:
        # The whole group when `row` is None, and only then: a row always holds its job's
        # record (see _row), so a bad index can never widen into "every job".
        if row is not None:
            chosen = [row.record]
        elif what == "stop":
            chosen = [r for r in self.records if r.is_submitted and not r.is_terminal]
        else:
            chosen = [r for r in self.records if r.state in RESUBMITTABLE_STATES]
        actions: dict[str, Callable[[list[JobRecord]], str]] = {
            "stop": self._stop, "resubmit": self._resubmit, "logs": lambda c: self._logs(c[0])}
        try:
            self._say(actions[what](chosen))
        except CalibanError as e:
            self._say(str(e), error=True)
        if what != "logs":
            self._poke()

    def _stop(self, records: list[JobRecord]) -> str:
        if not records:
            return "no unfinished jobs to stop"
        self.source.stop(records)
        return f"asked {len(records)} job(s) to stop"

    def _resubmit(self, records: list[JobRecord]) -> str:
        if not records:
            return "nothing to resubmit: no FAILED, CANCELLED or NOT_SUBMITTED jobs"
        new = self.source.resubmit(records)
        with self._lock:
            self._apply(new)
        return f"resubmitted {len(new)} job(s)"

    _log_text = ""

    def _logs(self, record: JobRecord) -> str:
        text = self.source.logs(record, self.log_tail)
        self._log_text = text
        self.log_view.value = (
            f"<b>last {self.log_tail} lines of {html.escape(record.display_name)}</b>"
            f"<pre style='max-height:20em;overflow:auto;margin:2px 0'>{html.escape(text)}"
            "</pre>")
        self.log_view.layout.display = None
        return f"log of {record.display_name} shown below"

    def _say(self, text: str, *, error: bool = False) -> None:
        if error:
            self.errors.append(text)
            self.status.value = ("<span class='refresh-error' style='color:#b00020'>"
                                 f"{html.escape(text)}</span>")
        else:
            self.status.value = f"<span>{html.escape(text)}</span>"

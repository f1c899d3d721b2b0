"""The result of a submission: a :class:`Sweep` of :class:`Job` handles.

A Sweep is the notebook's view of a :class:`~caliban_jupyter.service.groups.JobGroup`
(which does every verb: ``refresh``, ``wait``, ``stop``, logs, outputs); its notebook
display is a status table rendered from :meth:`Sweep.rows`, and in a live kernel the job
table widget over the same group. Nothing here imports Docker or the Google SDK until a
verb needs the backend.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..records import JobRecord
    from ..service.groups import JobGroup
    from ..settings import Settings

#: The columns of the status table, in order.
COLUMNS = ("name", "state", "args", "created", "link")


class Job:
    """One job of a sweep: the last seen :class:`~caliban_jupyter.records.JobRecord`, and
    its logs. Attributes not defined here are read from the record."""

    def __init__(self, record: JobRecord, sweep: Sweep) -> None:
        self.record = record
        self._sweep = sweep

    display_name = property(lambda self: self.record.display_name)
    state = property(lambda self: self.record.state)
    args = property(lambda self: self.record.args)
    labels = property(lambda self: dict(self.record.labels))
    created = property(lambda self: self.record.created)
    url = property(lambda self: self.record.url)
    is_terminal = property(lambda self: self.record.is_terminal)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "record":
            raise AttributeError(name)
        return getattr(self.record, name)

    def logs(self, tail: int | None = None) -> str:
        """The job's output so far (the local emulator; Vertex points to Cloud Logging)."""
        return self._sweep.group.logs(self.record, tail)

    @property
    def output_uri(self) -> str | None:
        """Where the job writes its outputs (``baseOutputDirectory``), or None."""
        from ..records import output_uri_of

        return output_uri_of(self.record)

    @property
    def outputs(self) -> dict[str, Any]:
        """The values the job saved (``-o``), loaded here; what could not be read is in
        :attr:`output_error`."""
        return dict(self._read_outputs().values)

    @property
    def output_error(self) -> str | None:
        """Why a value is missing (the job failed, no manifest, a hash mismatch...)."""
        return self._read_outputs().error

    def _read_outputs(self):
        from ..service.outputs import read_outputs

        return read_outputs(self.record, self._sweep.group.locator.locate(self.record))

    def __repr__(self) -> str:
        return f"<Job {self.display_name} {self.state}>"


class Sweep:
    """The jobs of one experiment group.

    Parameters
    ----------
    group
        The :class:`~caliban_jupyter.service.groups.JobGroup` to view: what a submission
        hands back, or a group looked up.
    """

    def __init__(self, group: JobGroup) -> None:
        self.group = group
        self.xgroup = group.xgroup

    @property
    def settings(self) -> Settings:
        """Where the jobs run (the group's backend, project and region)."""
        return self.group.settings

    # ------------------------------------------------------------------ data
    @property
    def records(self) -> list[JobRecord]:
        """Each job once, by its latest attempt (a resubmission replaces what it retried)."""
        return self.group.records

    @property
    def attempts(self) -> list[JobRecord]:
        """Every record given or refreshed, earlier attempts of resubmitted jobs included
        (oldest first per index)."""
        return self.group.attempts

    @property
    def jobs(self) -> list[Job]:
        return [Job(r, self) for r in self.group.records]

    def __len__(self) -> int:
        return len(self.group.records)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __getitem__(self, i: int) -> Job:
        return self.jobs[i]

    @property
    def states(self) -> dict[str, int]:
        """How many jobs are in each state (each job once, by its latest attempt)."""
        return self.group.counts()

    @property
    def done(self) -> bool:
        """True once every job is terminal (or was never submitted)."""
        return self.group.done

    def rows(self) -> list[dict[str, str]]:
        """One dict per job with the :data:`COLUMNS` as keys: what every display shows."""
        from ..tables import record_cells

        return [{c: cells[c] for c in COLUMNS}
                for cells in map(record_cells, self.group.records)]

    # ------------------------------------------------------------------ verbs
    def refresh(self) -> Sweep:
        """Ask the backend for every job's current state (one list call); returns self."""
        self.group.refresh()
        return self

    def wait(self, timeout: float | None = None, *, poll: float = 2.0) -> Sweep:
        """Refresh until every job is terminal; returns self.

        Raises
        ------
        TimeoutError
            When ``timeout`` seconds pass first (the jobs keep running).
        """
        self.group.wait(timeout, poll=poll)
        return self

    @property
    def locator(self):
        """Finds the jobs' output locations (Cloud Storage or the emulator's directory)."""
        return self.group.locator

    def results(self, wait: bool = True, *, timeout: float | None = None,
                frame: bool | None = None, workers: int | None = None) -> Any:
        """One row per job: its experiment parameters, the values it saved (``-o``), its
        ``state``, ``error`` and ``cost_usd`` (an estimate from list prices: run time x
        the Vertex AI rate of its machine, by Vertex's billing rules; ``None`` when no
        price is known); a pandas DataFrame when pandas is installed (or ``frame=True``),
        else (or with ``frame=False``) a list of dicts.

        ``wait`` (default) first waits for every job to finish; ``wait=False`` reads what
        is there now (unfinished jobs say so in ``error``). Jobs are read in parallel.
        Values saved with pickle are code run when loaded: load only your own jobs'.
        """
        from ..service.outputs import to_table

        if wait:
            self.wait(timeout)
        rows = self.group.results(workers=workers)
        table = rows if frame is False else to_table(rows, required=bool(frame))
        if hasattr(table, "attrs"):  # a DataFrame says what cost_usd is
            from ..spec.prices import get_prices

            table.attrs["cost_usd"] = ("estimate from list prices as of "
                                       f"{get_prices().as_of}; not an invoice")
        return table

    @property
    def search(self) -> dict[str, Any] | None:
        """A search's (``--tune``) metric, goal and parameter names; None for a sweep."""
        from ..service.tuning import search_of

        return search_of(self.group.records)

    def best(self, metric: str | None = None, *, maximize: bool | None = None,
             wait: bool = True, timeout: float | None = None) -> dict[str, Any] | None:
        """The best row of :meth:`results` (a dict), or None when no row has the metric.

        A search's best trial by its own metric and goal; for a sweep, name the ``metric``
        (an ``-o`` value) and whether to ``maximize`` it (default: maximize).
        """
        from ..errors import UsageError
        from ..service.tuning import best_row

        search = self.search
        if search is None and metric is None:
            raise UsageError("sweep.best(): this sweep is not a search (--tune); name the -o "
                             "value to rank by, e.g. sweep.best('loss', maximize=False)")
        metric = metric or search["metric"]  # type: ignore[index]
        if maximize is None:
            maximize = search["goal"] != "MINIMIZE" if search is not None else True
        rows = self.results(wait=wait, timeout=timeout, frame=False)
        return best_row(rows, metric, "MAXIMIZE" if maximize else "MINIMIZE")

    def plot(self, metric: str | None = None, params: list[str] | None = None, *,
             maximize: bool | None = None, wait: bool = False) -> Any:
        """A matplotlib Figure: the metric against each parameter, and (when the goal is
        known) the best so far over the trials. A search's metric and parameters by
        default; for a sweep, name the ``-o`` ``metric`` (the experiment keys are the
        parameters). Rows without the metric yet are left out (``wait=True`` waits)."""
        from ..errors import UsageError
        from ..widgets.charts import plot

        search = self.search
        if search is None and metric is None:
            raise UsageError("sweep.plot(): this sweep is not a search (--tune); name the -o "
                             "value to plot, e.g. sweep.plot('loss')")
        if search is not None:
            metric = metric or search["metric"]
            params = params if params is not None else list(search["parameters"])
            if maximize is None:
                maximize = search["goal"] != "MINIMIZE"
        elif params is None:
            params = list(dict.fromkeys(k for config in self.group.experiments().values()
                                        for k in config))
        rows = self.results(wait=wait, frame=False)
        try:
            return plot(rows, str(metric), params, maximize=maximize,
                        title=f"{self.xgroup}: {metric}")
        except ValueError as e:
            raise UsageError(f"sweep.plot(): {e}") from None

    def download(self, dest: str | None = None) -> Any:
        """Copy everything the jobs wrote to ``dest`` (default ``caliban_outputs/XGROUP``):
        ``{dest}/{job}/...`` and executed notebooks as ``{dest}/{job}.ipynb``. Files
        already there with the same hash are skipped. Returns the
        :class:`~caliban_jupyter.storage.DownloadReport`."""
        return self.group.download(dest)

    def stop(self) -> Sweep:
        """Cancel every job that is not terminal yet; returns self (refreshed)."""
        self.group.stop()
        return self

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        rows = self.rows()
        head = f"Sweep {self.xgroup}: {len(rows)} job{'s' if len(rows) != 1 else ''} " \
               f"({self.group.summary()}) on {self.settings.backend}"
        if not rows:
            return head
        widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS}
        lines = [head, "  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
        for r, record in zip(rows, self.group.records, strict=True):
            lines.append("  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip())
            if record.error:  # why it failed, or was not submitted
                lines.append(f"    error: {record.error}")
            if record.is_tuning:  # a search: its trials under it, the best marked *
                from ..tables import trial_lines

                lines.extend(trial_lines(record))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th style='text-align:left'>{e(c)}</th>" for c in COLUMNS)
        body = []
        from ..tables import record_cells, trials_html

        for record in self.group.records:
            r = record_cells(record)
            link = f"<a href='{e(r['link'])}' target='_blank'>open</a>" if r["link"] else ""
            if r["notebook"]:
                link += f" <a href='{e(r['notebook'])}' target='_blank'>ipynb</a>"
            cells = [e(r["name"]), e(r["state"]), f"<code>{e(r['args'])}</code>",
                     e(r["created"]), link]
            body.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>"
                                         for c in cells) + "</tr>")
            if r["error"]:
                body.append(f"<tr><td></td><td colspan='{len(COLUMNS) - 1}' "
                            "style='text-align:left;color:#b00020'>error: "
                            f"{e(r['error'])}</td></tr>")
            if record.is_tuning:
                body.append(f"<tr><td></td><td colspan='{len(COLUMNS) - 1}'>"
                            f"{trials_html(record)}</td></tr>")
        caption = (f"experiment group <b>{e(self.xgroup)}</b> on {e(self.settings.backend)}: "
                   f"{e(self.group.summary())}")
        return (f"<div class='caliban-sweep'><div>{caption}</div><table><thead><tr>{head}"
                f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """In a live kernel: the live job table widget (text and HTML stay the fallbacks)."""
        table = self.table()
        if table is None:
            return None
        bundle = table._repr_mimebundle_(include=include, exclude=exclude) or {}
        # Keep this Sweep's own text/plain (and _repr_html_) for static views.
        return {k: v for k, v in bundle.items() if k != "text/plain"}

    def table(self, **options: Any) -> Any:
        """The live :class:`~caliban_jupyter.widgets.table.JobTable` of this sweep (one per
        sweep), or None outside a kernel or without ipywidgets."""
        if getattr(self, "_table", None) is None:
            from IPython import get_ipython

            if getattr(get_ipython(), "kernel", None) is None and not options:
                return None
            try:
                from ..widgets.table import JobTable
            except ImportError:
                return None
            self._table = JobTable(self, records=self.records, **options)
        return self._table


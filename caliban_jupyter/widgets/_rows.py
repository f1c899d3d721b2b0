"""Pure rendering of job records for the job table: cells as HTML, varying args, summary.

No widgets here: these functions turn :class:`~caliban_jupyter.records.JobRecord` values
into strings, so they are tested without a kernel and shared by the benchmark's baseline.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence

from ..records import TERMINAL_STATES, JobRecord, latest_attempts, state_summary
from ..tables import cost_fields, record_cells, trials_html

__all__ = [
    "STATE_COLORS",
    "cost_cell",
    "cost_summary",
    "duration",
    "grid_template",
    "header_html",
    "parse_args",
    "row_html",
    "summary_text",
    "table_css",
    "varying_keys",
]

STATE_COLORS: Mapping[str, str] = {
    "SUCCEEDED": "#1e8e3e",
    "PARTIALLY_SUCCEEDED": "#7cb342",
    "FAILED": "#d93025",
    "NOT_SUBMITTED": "#a50e0e",
    "EXPIRED": "#d93025",
    "CANCELLED": "#e37400",
    "CANCELLING": "#e37400",
    "PAUSED": "#e37400",
    "RUNNING": "#1a73e8",
    "QUEUED": "#5f6368",
    "PENDING": "#5f6368",
}
_FIXED = ("#", "name", "state", "created", "duration", "machine", "accelerator", "est. cost")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_args(args: Sequence[str]) -> dict[str, str]:
    """``["--lr", "0.1", "--fast", "x.txt"]`` -> ``{"--lr": "0.1", "--fast": "", "": "x.txt"}``.

    Flags take the next token as value unless it is a flag too (``--fast`` above is a
    switch); ``--k=v`` splits at ``=``; positional tokens are joined under ``""``.
    """
    out: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-") and len(token) > 1 and not _is_number(token):
            if "=" in token:
                key, value = token.split("=", 1)
            elif i + 1 < len(args) and not (args[i + 1].startswith("-")
                                             and not _is_number(args[i + 1])):
                key, value = token, args[i + 1]
                i += 1
            else:
                key, value = token, ""
            out[key] = value
        else:
            positional.append(token)
        i += 1
    if positional:
        out[""] = " ".join(positional)
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def varying_keys(records: Iterable[JobRecord]) -> list[str]:
    """Argument keys whose value differs between jobs (or that some jobs lack), in order
    of first appearance: the columns worth showing. Shared args would only repeat."""
    parsed = [parse_args(r.args) for r in records]
    order: dict[str, None] = {}
    for p in parsed:
        order.update(dict.fromkeys(p))
    return [k for k in order if len({p.get(k) for p in parsed}) > 1]


def _parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)


def _short_time(value: str | None) -> str:
    when = _parse_time(value)
    if when is None:
        return ""
    local = when.astimezone()
    if local.date() == _dt.datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%m-%d %H:%M")


def duration(record: JobRecord) -> str:
    """``1m 05s`` once a job ended; ``since HH:MM:SS`` while it runs.

    A running job's elapsed time is not rendered on purpose: it would change every refresh
    and force every running row to be resent to the browser.
    """
    start, end = _parse_time(record.started), _parse_time(record.ended)
    if start is None:
        return ""
    if end is None:
        return "" if record.is_terminal else f"since {_short_time(record.started)}"
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def cost_cell(record: JobRecord) -> str:
    """A job's estimated cost (list prices, Vertex's billing rules) once it ended; its
    hourly rate while it runs (``$29.39/h``): like :func:`duration`, a cell that would
    change every refresh is not rendered."""
    from ..spec.cost import cost_so_far, job_rate, usd

    if record.is_terminal or record.started is None:
        cost = cost_so_far(cost_fields(record))
        return "?" if cost["usd"] is None else usd(cost["usd"])
    rate = job_rate(record.request, record.region).usd_per_hour
    return "?/h" if rate is None else f"{usd(rate)}/h"


def cost_summary(records: Sequence[JobRecord]) -> str:
    """``est. cost $12.34 + 2 running at $58.78/h (list prices)``: the ended jobs' estimated
    cost (every attempt), and what the running ones cost per hour."""
    from ..spec.cost import group_cost, job_rate, usd

    running = [r for r in records if not r.is_terminal and r.started is not None]
    ended = [cost_fields(r) for r in records if r.is_terminal or r.started is None]
    total = group_cost(ended)
    text = f"est. cost {'?' if total['usd'] is None else usd(total['usd'])}"
    if running:
        rates = [job_rate(r.request, r.region).usd_per_hour for r in running]
        rate = None if any(x is None for x in rates) else sum(x for x in rates if x)
        text += f" + {len(running)} running at {'?' if rate is None else usd(rate)}/h"
    unknown = "; ".join(total["unknown"])
    return text + " (list prices" + (f"; {unknown}" if unknown else "") + ")"


def _accelerator(machine: Mapping[str, object]) -> str:
    kind = machine.get("acceleratorType")
    if not kind:
        return "none"
    count = machine.get("acceleratorCount") or 1
    return f"{count} x {kind}"


def grid_template(columns: Sequence[str]) -> str:
    """CSS grid columns shared by the header and every row, so separate row widgets align."""
    fixed = "2.5em minmax(16em,2fr) 9.5em 6em 6.5em 9em 10em 6.5em"
    varying = " ".join("minmax(8em,1fr)" for _ in columns)
    return f"{fixed} {varying} 4em".replace("  ", " ")


def _grid(cells: Iterable[str], extra_class: str) -> str:
    body = "".join(f"<div>{c}</div>" for c in cells)
    return f'<div class="caliban-grid {extra_class}">{body}</div>'


def table_css(scope: str, columns: Sequence[str]) -> str:
    """The one stylesheet of a table (sent once, with its header): rows carry no styles,
    which keeps each changed row's message small."""
    return (f"<style>.{scope} .caliban-grid{{display:grid;grid-template-columns:"
            f"{grid_template(columns)};gap:0 8px;align-items:center;"
            "font-family:var(--jp-code-font-family,monospace);font-size:12px;"
            f"line-height:22px;white-space:nowrap}}.{scope} .caliban-grid>div{{overflow:hidden;"
            f"text-overflow:ellipsis}}.{scope} .caliban-grid a{{color:"
            "var(--jp-content-link-color,#1a73e8)}"
            + "".join(f".{scope} .caliban-state-{s}{{color:{c};font-weight:600}}"
                      for s, c in STATE_COLORS.items())
            + f".{scope} .caliban-state{{font-weight:600}}</style>")


def header_html(columns: Sequence[str], scope: str = "") -> str:
    """The header line for ``columns`` (the varying argument keys), with the table's CSS
    when ``scope`` (the table's CSS class) is given."""
    names = [*_FIXED, *[(c or "args") for c in columns], "link"]
    css = table_css(scope, columns) if scope else ""
    return css + _grid((f"<b>{html.escape(n)}</b>" for n in names), "caliban-header")


def row_html(record: JobRecord, columns: Sequence[str]) -> str:
    """One job's cells. A pure function of the record and the columns, so an unchanged
    record renders to the same string and is never resent."""
    cells = record_cells(record)
    name, state_name = html.escape(cells["name"]), html.escape(cells["state"])
    state = f'<span class="caliban-state caliban-state-{state_name}">{state_name}</span>'
    if cells["error"] and not record.is_submitted:
        state = f'<span title="{html.escape(cells["error"])}">{state}</span>'
    args = parse_args(record.args)
    link = (f'<a href="{html.escape(cells["link"])}" target="_blank" rel="noopener">open</a>'
            if cells["link"] else "")
    if cells["notebook"]:
        link += (f' <a href="{html.escape(cells["notebook"])}" target="_blank" '
                 'rel="noopener" title="the executed notebook">ipynb</a>')
    return _grid([
        str(record.index),
        f'<span title="{name}">{name}</span>',
        state,
        _short_time(record.created),
        duration(record),
        html.escape(str(record.machine.get("machineType", ""))),
        html.escape(_accelerator(record.machine)),
        html.escape(cost_cell(record)),
        *[html.escape(args.get(c, "—")) or "✓" for c in columns],
        link,
    ], f"caliban-cells caliban-job-{record.index}") + (
        # A search: its trials under it, filling in as Vertex proposes them.
        f'<div class="caliban-trials-box">{trials_html(record)}</div>'
        if record.is_tuning else "")


def summary_text(records: Sequence[JobRecord]) -> str:
    """``4 jobs: 1 RUNNING, 3 SUCCEEDED`` (states in a fixed, attention-first order; each
    job counted once, by its latest attempt)."""
    jobs = latest_attempts(records)
    n = len(jobs)
    text = f"{n} job{'s' if n != 1 else ''}" + (f": {state_summary(jobs)}" if jobs else "")
    if jobs and all(r.state in TERMINAL_STATES for r in jobs):
        text += " (all finished)"
    return text

"""Job tables: what every front end shows of a job record.

:func:`record_cells` is the text of each column (a Sweep's table and the live job table lay
them out each their own way); :func:`render_table` is the text table of ``caliban status``
(and of ``%caliban_status --all_attempts``, of what ``caliban stop`` and ``caliban
resubmit`` did, and of the jobs a stop asks about); :func:`render_json` their JSON list.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .records import JobRecord, executed_notebook_url


def record_cells(record: JobRecord) -> dict[str, str]:
    """The text of the columns a job table shows (``""`` when unknown): ``name``,
    ``state``, ``args`` (shell-quoted), ``created``, ``link`` (the job's page), ``notebook``
    (its executed notebook, once it ended) and ``error``. A Sweep's table and the live job
    table lay these out each their own way."""
    notebook = executed_notebook_url(record) if record.is_terminal else None
    return {
        "name": record.display_name,
        "state": record.state,
        "args": shlex.join(record.args) if record.args else "",
        "created": record.created or "",
        "link": record.url or "",
        "notebook": notebook or "",
        "error": record.error or "",
    }


def _short_time(stamp: str | None) -> str:
    return (stamp or "-").replace("T", " ")[:19]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def cost_fields(record: JobRecord) -> dict[str, Any]:
    """What :func:`~caliban_jupyter.spec.cost.cost_so_far` reads of a record (its full
    JSON form would copy the request body: 400 rows took 50 ms that way)."""
    if record.is_tuning:
        return _tuning_cost_fields(record)
    return {"state": record.state, "started": record.started, "ended": record.ended,
            "region": record.region, "request": record.request}


def _tuning_cost_fields(record: JobRecord) -> dict[str, Any]:
    """A tuning job as one job of its trials' machine whose run time is the sum of its
    trials' (each trial is a CustomJob billed for its run time; a trial that failed is
    billed too: our choice, Vertex's pages do not say)."""
    from .spec.cost import _time

    now = _dt.datetime.now(_dt.timezone.utc)
    seconds = 0.0
    for trial in record.trials:
        start = _time(trial.get("startTime"))
        if start is not None:
            end = _time(trial.get("endTime")) or now
            seconds += max(0.0, (end - start).total_seconds())
    started = _time(record.started) or _time(record.created)
    fields: dict[str, Any] = {"state": record.state if not record.is_terminal else
                              "SUCCEEDED", "region": record.region,
                              "request": {"jobSpec": record.request.get("trialJobSpec") or {}},
                              "started": None, "ended": None}
    if started is not None and seconds:
        fields["started"] = started.isoformat()
        fields["ended"] = (started + _dt.timedelta(seconds=seconds)).isoformat()
    return fields


def cost_cell(cost: Mapping[str, Any]) -> str:
    """A job's :func:`~caliban_jupyter.spec.cost.cost_so_far` as a table cell."""
    from .spec.cost import usd

    return "unknown" if cost["usd"] is None else usd(cost["usd"])


def cost_total_line(records: Sequence[JobRecord], now: _dt.datetime | None = None) -> str:
    """The estimated cost so far of ``records`` together, said as an estimate."""
    from .spec.cost import group_cost, usd
    from .spec.prices import get_prices

    total = group_cost([cost_fields(r) for r in records], now)
    n = total["jobs"]
    said = usd(total["usd"]) if total["usd"] is not None else \
        "unknown (" + "; ".join(total["unknown"]) + ")"
    return (f"estimated cost so far of these {n} job{'s' * (n != 1)}: {said} (list prices as "
            f"of {get_prices().as_of}, run time x rate; not an invoice)")


def render_table(records: Sequence[JobRecord]) -> str:
    """Text table (``caliban status``, ``%caliban_status --all_attempts``): one block per
    group, one row per job, its error and web access URIs under it, and each group's
    estimated cost so far."""
    from .spec.cost import cost_so_far

    lines: list[str] = []
    group = None
    now = _dt.datetime.now(_dt.timezone.utc)
    # Display names differ only in their suffix: never cut them.
    name_w = max([len(r.display_name) for r in records] + [4])
    shown: list[JobRecord] = []
    for r in records:
        if r.xgroup != group:
            if shown:
                lines.append(f"  {cost_total_line(shown, now)}")
                shown = []
            group = r.xgroup
            if lines:
                lines.append("")
            lines.append(f"xgroup {group} ({r.backend}, project {r.project}, {r.region}):")
            lines.append(f"  {'NAME':<{name_w}} {'STATE':<14} {'STRATEGY':<10} "
                         f"{'CREATED':<19} {'EST. COST':<10} {'ARGS':<36} URL")
        shown.append(r)
        cost = cost_cell(cost_so_far(cost_fields(r), now))
        lines.append(f"  {r.display_name:<{name_w}} {r.state:<14} {r.strategy:<10} "
                     f"{_short_time(r.created):<19} {cost:<10} "
                     f"{_short(' '.join(r.args) or '-', 36):<36} {r.url or '-'}")
        if r.error:
            # Why it failed (or was not submitted): under its row, so columns stay aligned.
            lines.append(f"  {'':<{name_w}} error: {_short(' '.join(r.error.split()), 300)}")
        for replica, uri in sorted(r.web_access_uris.items()):
            lines.append(f"    web access {replica}: {uri}")
        if r.is_tuning:
            lines.extend(trial_lines(r))
    if shown:
        lines.append(f"  {cost_total_line(shown, now)}")
    return "\n".join(lines)


def trial_lines(record: JobRecord) -> list[str]:
    """A tuning job's trials under its row: id, state, metric (``*`` marks the best so
    far), parameters, and why a trial failed."""
    from .records import search_of, trial_rows

    rows = trial_rows(record)
    search = search_of([record]) or {"metric": "", "parameters": []}
    metric, params = search["metric"], search["parameters"]
    if not rows:
        return [f"    trials: none yet ({record.request.get('maxTrialCount', '?')} asked, "
                f"{record.request.get('parallelTrialCount', 1)} at a time)"]
    lines = [f"    {'TRIAL':<6} {'STATE':<12} {metric.upper():<14} PARAMETERS"]
    for row in rows:
        value = row.get(metric)
        shown = "-" if value is None else f"{value:.6g}" if isinstance(value, float) \
            else str(value)
        mark = "*" if row["best"] else " "
        args = " ".join(f"{p}={row.get(p)}" for p in params if p in row)
        lines.append(f"   {mark}{row['trial']:<6} {row['state']:<12} {shown:<14} {args}")
        if row["error"]:
            lines.append(f"    {'':<6} error: {_short(' '.join(str(row['error']).split()), 300)}")
    return lines


def trials_html(record: JobRecord) -> str:
    """A search's trials as a small table: parameters, metric (the best in bold), state."""
    import html

    from .records import search_of, trial_rows

    e = html.escape
    search = search_of([record]) or {"metric": "", "parameters": []}
    rows = trial_rows(record)
    if not rows:
        return "<i>no trials yet</i>"
    cols = ["trial", *search["parameters"], search["metric"], "state", "error"]
    head = "".join(f"<th style='text-align:left'>{e(c)}</th>" for c in cols)
    body = []
    for row in rows:
        style = " style='font-weight:bold'" if row["best"] else ""
        cells = "".join(f"<td style='text-align:left'>"
                        f"{'' if row.get(c) is None else e(str(row.get(c)))}</td>"
                        for c in cols)
        body.append(f"<tr{style}>{cells}</tr>")
    return (f"<table class='caliban-trials'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")



def render_json(records: Iterable[JobRecord]) -> str:
    """The records' JSON forms as one indented list."""
    return json.dumps([r.to_json() for r in records], indent=2)

"""The emulator's pages for people: all jobs (``/ui/``, tuning jobs first) and one job
(``/ui/jobs/ID``).

Plain HTML, no scripts; pages of unfinished jobs refresh themselves every few seconds.
Everything shown is escaped: labels, args and logs are user data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from . import python_package
from .resources import rfc3339
from .rpc import TERMINAL_STATES
from .store import Job, Stored

if TYPE_CHECKING:
    from .tuning_store import TuningJob

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.8rem;overflow:auto;
max-height:40rem}.JOB_STATE_SUCCEEDED{color:#1a7f37}.JOB_STATE_FAILED{color:#cf222e}
.JOB_STATE_RUNNING{color:#0969da}code{font-size:90%}
"""


def _page(title: str, body: str, refresh: bool) -> str:
    meta = '<meta http-equiv="refresh" content="3">' if refresh else ""
    return (f"<!doctype html><html><head><meta charset=\"utf-8\">{meta}"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>")


def _state(job: Stored) -> str:
    short = job.state.removeprefix("JOB_STATE_")
    return f'<span class="{escape(job.state)}">{escape(short)}</span>'


def _tuning_table(tunings: Sequence[TuningJob]) -> str:
    """Each tuning job: its trials (succeeded of proposed), the best metric, its log."""
    rows = []
    for job in tunings:
        metric = job.body["studySpec"]["metrics"][0]
        sign = 1 if metric.get("goal") == "MAXIMIZE" else -1
        values = [t["finalMeasurement"]["metrics"][0]["value"] for t in job.trials
                  if t.get("finalMeasurement")]
        best = f"{metric['metricId']}={max(values, key=lambda v: sign * v):g}" if values else ""
        rows.append(
            f'<tr><td><a href="/logs/{job.id}">{job.id}</a></td>'
            f"<td>{escape(job.display_name)}</td><td>{_state(job)}</td>"
            f"<td>{len(values)} of {len(job.trials)} (max {job.body['maxTrialCount']})</td>"
            f"<td>{escape(best)}</td></tr>")
    return ("<h2>Hyperparameter tuning jobs</h2><table><tr><th>id (log)</th>"
            "<th>display name</th><th>state</th><th>trials succeeded</th><th>best</th></tr>"
            f"{''.join(rows)}</table><h2>Custom jobs (and trials)</h2>")


def render_index(jobs: Sequence[Job], total: int,
                 tunings: Sequence[TuningJob] = ()) -> str:
    """All jobs, newest first (``jobs`` may be the newest ``len(jobs)`` of ``total``),
    after the tuning jobs if any."""
    rows = "".join(
        f'<tr><td><a href="/ui/jobs/{job.id}">{job.id}</a></td>'
        f"<td>{escape(job.display_name)}</td><td>{_state(job)}</td>"
        f"<td>{escape(rfc3339(job.create_time) or '')}</td>"
        f"<td>{escape(', '.join(f'{k}={v}' for k, v in sorted(job.labels.items())))}</td>"
        "</tr>"
        for job in jobs
    )
    shown = f" (newest {len(jobs)} shown)" if total > len(jobs) else ""
    body = (f"<h1>Local Vertex emulator</h1>{_tuning_table(tunings) if tunings else ''}"
            f"<p>{total} jobs{shown}.</p><table><tr><th>id</th><th>display name</th>"
            f"<th>state</th><th>created</th><th>labels</th></tr>{rows}</table>")
    refresh = any(job.state not in TERMINAL_STATES for job in (*jobs, *tunings))
    return _page("Local Vertex emulator: jobs", body, refresh)


def render_job(job: Job, log_tail: str, tail_lines: int,
               replicas: Sequence[str] = (), notebook: bool = False) -> str:
    """One job: state, times, image, command and args, labels, error, its log's tail,
    (jobs with several replicas) a link to each replica's own log and (notebook jobs) to
    the executed notebook."""
    spec = python_package.container_spec(job.pool)
    machine = job.pool.get("machineSpec", {})
    rows = [
        ("name", escape(job.name)),
        ("state", _state(job)),
        ("image", f"<code>{escape(spec.get('imageUri', ''))}</code>"),
        ("command", f"<code>{escape(repr(spec.get('command', [])))}</code>"),
        ("args", f"<code>{escape(repr(spec.get('args', [])))}</code>"),
        ("machine", escape(str(machine.get("machineType", ""))) + (
            f" + {escape(str(machine.get('acceleratorCount', '')))} x "
            f"{escape(str(machine['acceleratorType']))}"
            if machine.get("acceleratorType") else "")),
        ("labels", escape(", ".join(f"{k}={v}" for k, v in sorted(job.labels.items())))),
    ]
    for label, ts in (("created", job.create_time), ("started", job.start_time),
                      ("ended", job.end_time), ("updated", job.update_time)):
        rows.append((label, escape(rfc3339(ts) or "")))
    if job.error:
        rows.append(("error", escape(str(job.error.get("message", "")))))
    if replicas:
        rows.append(("replicas", ", ".join(
            f'<a href="/logs/{job.id}?replica={escape(r)}">{escape(r)}</a>' for r in replicas)))
    if notebook:
        rows.append(("notebook", f'<a href="/ui/jobs/{job.id}/notebook">executed notebook</a>'))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    body = (f'<p><a href="/ui/">all jobs</a></p><h1>{escape(job.display_name)}</h1>'
            f"<table>{table}</table><h2>Log (last {tail_lines} lines, "
            f'<a href="/logs/{job.id}">full log</a>)</h2><pre>{escape(log_tail)}</pre>')
    return _page(f"{job.display_name}: {job.state}", body, job.state not in TERMINAL_STATES)

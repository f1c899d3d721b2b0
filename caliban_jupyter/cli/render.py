"""Terminal rendering for `caliban cloud`: dry-run listings and progress bars (tqdm)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from .. import events as ev
from ..progress import LineProgress
from ..service.dryrun import dry_run_json, dry_run_notes, dry_run_text
from ..service.plan import Plan


def render_dry_run(plan: Plan, out=None, notes_out=None) -> None:
    """The jobs of ``plan`` as text, or (``--format json``) their request bodies; notes
    (what the program will not run, labels changed) go with the text, or to ``notes_out``
    (default stderr) beside the JSON."""
    out = out or sys.stdout
    if plan.request.format == "json":
        for note in dry_run_notes(plan):
            print(f"note: {note}", file=notes_out or sys.stderr)
        json.dump(dry_run_json(plan), out, indent=2)
        out.write("\n")
        return
    out.write(dry_run_text(plan))


class TqdmProgress:
    """Renders progress events as tqdm bars on stderr."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        # Rates are meaningless for build steps (cached steps take microseconds).
        self._fmt = "{desc}: {n_fmt}/{total_fmt} |{bar:20}| {postfix}"
        self._build: Any = None
        self._push: Any = None
        self._submit: Any = None

    def __call__(self, event: ev.Event) -> None:
        t = self._tqdm
        if isinstance(event, ev.BuildStep):
            if self._build is None:
                self._build = t(total=event.total, desc="build", unit="step", file=sys.stderr,
                                bar_format=self._fmt, mininterval=0.2)
            self._build.n = event.index
            self._build.set_postfix_str(("cached " if event.cached else "") +
                                        event.instruction[:40])
        elif isinstance(event, ev.PushProgress):
            if self._push is None:
                self._push = t(total=event.total or None, desc="push", unit="B",
                               unit_scale=True, file=sys.stderr)
            if event.total:
                self._push.total = event.total
            self._push.n = event.current
            self._push.refresh()
        elif isinstance(event, (ev.JobSubmitted, ev.JobFailedToSubmit)):
            if self._submit is None:
                self._close_build()
                self._submit = t(total=event.total, desc="submit", unit="job",
                                 file=sys.stderr, mininterval=0.2)
            self._submit.update(1)
            if isinstance(event, ev.JobFailedToSubmit):
                t.write(event.message, file=sys.stderr)
        elif isinstance(event, ev.ImageReady):
            self._close_build()
            t.write(event.message, file=sys.stderr)
        elif isinstance(event, (ev.Info, ev.Warning_)):
            t.write(event.message, file=sys.stderr)

    def _close_build(self) -> None:
        for bar in (self._build, self._push):
            if bar is not None:
                bar.refresh()
                bar.close()
        self._build = self._push = None

    def close(self) -> None:
        self._close_build()
        if self._submit is not None:
            self._submit.close()
            self._submit = None


def render_records(records, fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump([r.to_json() for r in records], out, indent=2)
        out.write("\n")
        return
    width = max([len(r.display_name) for r in records] + [4])
    for r in records:
        print(f"{r.display_name:<{width}}  {r.state:<13} {r.url}", file=out)


def render_run(plan: Plan, execute: Callable[..., Any]) -> int:
    from ..service.group_names import group_of

    if plan.request.dry_run:
        render_dry_run(plan)
        return 0
    progress = terminal_progress()
    try:
        records = execute(plan, progress)
    finally:
        progress.close()
    render_records(records, plan.request.format)
    n = len(records)
    xgroup = group_of(plan, records)
    print(f"{n} job{'s' if n != 1 else ''} submitted in experiment group {xgroup}. "
          f"Follow them with: caliban status --xgroup {xgroup}", file=sys.stderr)
    return 0


def terminal_progress(stream: Any = None) -> TqdmProgress | LineProgress:
    """Bars when ``stream`` (default stderr) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    return TqdmProgress() if stream.isatty() else LineProgress(stream)

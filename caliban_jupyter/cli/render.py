"""Terminal rendering for `caliban cloud`: the dry run, progress bars, the submitted jobs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from ..progress import terminal_progress
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


def render_records(records, fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        from ..tables import render_json

        print(render_json(records), file=out)
        return
    width = max([len(r.display_name) for r in records] + [4])
    for r in records:
        print(f"{r.display_name:<{width}}  {r.state:<13} {r.url}", file=out)


def render_run(plan: Plan, submit: Callable[..., Any]) -> int:
    if plan.request.dry_run:
        render_dry_run(plan)
        return 0
    progress = terminal_progress()
    try:
        group = submit(plan, progress)
    finally:
        progress.close()
    records = group.records
    render_records(records, plan.request.format)
    n = len(records)
    xgroup = group.xgroup
    print(f"{n} job{'s' if n != 1 else ''} submitted in experiment group {xgroup}. "
          f"Follow them with: caliban status --xgroup {xgroup}", file=sys.stderr)
    return 0

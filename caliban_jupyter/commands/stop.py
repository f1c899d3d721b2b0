"""`caliban stop`: cancel the running jobs of an experiment group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from .status import add_backend_arguments, print_event, render_table, settings_from_args

if TYPE_CHECKING:
    from ..records import JobRecord

HELP = "Stop (cancel) the running jobs of an experiment group (default: the latest group)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xgroup", help="the experiment group (default: the latest one)")
    parser.add_argument("--dry_run", action="store_true",
                        help="show the jobs that would be stopped; stop nothing")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before stopping more than one job")
    add_backend_arguments(parser)


def make_confirm(yes: bool, stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> Callable[[Sequence[JobRecord]], bool]:
    """The question asked before stopping several jobs (an error when nobody can answer)."""
    from ..errors import UsageError

    def confirm(jobs: Sequence[JobRecord]) -> bool:
        if yes:
            return True
        inp = stdin or sys.stdin
        out = stdout or sys.stdout
        if not inp.isatty():
            raise UsageError(f"refusing to stop {len(jobs)} jobs without confirmation: stdin "
                             "is not a terminal; pass --yes to stop them")
        print(render_table(jobs), file=out)
        out.write(f"Stop these {len(jobs)} jobs? [y/N] ")
        out.flush()
        return inp.readline().strip().lower() in ("y", "yes")

    return confirm


def run(args: argparse.Namespace) -> int:
    from .. import tracking

    jobs = tracking.stop(args.xgroup, settings=settings_from_args(args), dry_run=args.dry_run,
                         confirm=make_confirm(args.yes), progress=print_event)
    if args.dry_run and jobs:
        print(f"would stop {len(jobs)} job(s):")
        print(render_table(jobs))
    elif jobs:
        print(f"stopping {len(jobs)} job(s): " + ", ".join(j.display_name for j in jobs))
    return 0

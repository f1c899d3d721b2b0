"""`caliban status`: the jobs of an experiment group (or of the latest groups), refreshed
from the job service with one list call per page."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..flags import add_status_arguments, where_of, where_settings

if TYPE_CHECKING:
    from ..events import Event
    from ..settings import Settings

HELP = "Show the jobs of an experiment group (default: the latest groups) and their states."


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of the job service the where flags of ``args`` name."""
    return where_settings(where_of(args))


def print_event(event: Event) -> None:
    """Progress on stderr, so stdout stays machine-readable with --format json."""
    print(event.message, file=sys.stderr)


add_arguments = add_status_arguments


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking
    from ..tables import render_json, render_table

    records = tracking.status(args.xgroup, settings=settings_from_args(args),
                              max_jobs=args.max_jobs, max_groups=args.max_groups,
                              all_attempts=args.all_attempts, progress=print_event)
    if args.format == "json":
        print(render_json(records))
    elif records:
        print(render_table(records))
    else:
        print("no experiment groups recorded yet; submit with `caliban cloud`, or pass "
              "--xgroup to look a group up by its label", file=sys.stderr)
    return 0

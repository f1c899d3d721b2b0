"""`caliban resubmit`: run the failed, cancelled or unsubmitted jobs of a group again."""

from __future__ import annotations

import argparse

from ..flags import add_resubmit_arguments
from .status import print_event, settings_from_args

HELP = ("Resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs of an experiment group with "
        "the image they ran (no rebuild).")

add_arguments = add_resubmit_arguments


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking
    from ..tables import render_table

    jobs = tracking.resubmit(args.xgroup, settings=settings_from_args(args),
                             all_jobs=args.all_jobs, dry_run=args.dry_run,
                             rate_per_minute=args.rate_per_minute, progress=print_event)
    if jobs:
        print(("would submit" if args.dry_run else "submitted") + f" {len(jobs)} job(s):")
        print(render_table(jobs))
    return 0

"""`caliban resubmit`: run the failed, cancelled or unsubmitted jobs of a group again."""

from __future__ import annotations

import argparse

from .status import add_backend_arguments, print_event, render_table, settings_from_args

HELP = ("Resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs of an experiment group with "
        "the image they ran (no rebuild).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xgroup", required=True, help="the experiment group")
    parser.add_argument("--all_jobs", action="store_true",
                        help="resubmit every job of the group, whatever its state")
    parser.add_argument("--dry_run", action="store_true",
                        help="show the jobs that would be submitted; submit nothing")
    parser.add_argument("--rate_per_minute", type=float, default=None, metavar="N",
                        help="at most N job creations a minute per region")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking

    jobs = tracking.resubmit(args.xgroup, settings=settings_from_args(args),
                             all_jobs=args.all_jobs, dry_run=args.dry_run,
                             rate_per_minute=args.rate_per_minute, progress=print_event)
    if jobs:
        print(("would submit" if args.dry_run else "submitted") + f" {len(jobs)} job(s):")
        print(render_table(jobs))
    return 0

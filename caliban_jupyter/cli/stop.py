"""`caliban stop`: cancel the running jobs of an experiment group, or one job."""

from __future__ import annotations

import argparse

from ..flags import add_stop_arguments
from .status import print_event, settings_from_args

HELP = ("Stop (cancel) one job (JOB), or the running jobs of an experiment group (default: "
        "the latest group).")

add_arguments = add_stop_arguments


def run(args: argparse.Namespace) -> int:
    from ..ask import make_confirm
    from ..service import track as tracking
    from ..tables import render_table

    if args.job is not None:
        from ..service.track import stop_job

        jobs = stop_job(args.job, xgroup=args.xgroup, settings=settings_from_args(args),
                        dry_run=args.dry_run, progress=print_event)
    else:
        jobs = tracking.stop(args.xgroup, settings=settings_from_args(args),
                             dry_run=args.dry_run, confirm=make_confirm(args.yes),
                             progress=print_event)
    if args.dry_run and jobs:
        print(f"would stop {len(jobs)} job(s):")
        print(render_table(jobs))
    elif jobs:
        print(f"stopping {len(jobs)} job(s): " + ", ".join(j.display_name for j in jobs))
    return 0

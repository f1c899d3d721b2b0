"""`caliban logs`: print a job's output (local emulator; Vertex points to Cloud Logging)."""

from __future__ import annotations

import argparse
import sys

from .status import add_backend_arguments, print_event, settings_from_args

HELP = "Print a job's log (JOB: display name, resource name or job id)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB",
                        help="display name, resource name or job id (see `caliban status`)")
    parser.add_argument("--xgroup", help="the job's experiment group (needed for jobs "
                        "submitted from another machine, or names used in several groups)")
    parser.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .. import tracking

    text = tracking.logs(args.job, xgroup=args.xgroup, tail=args.tail,
                         settings=settings_from_args(args), progress=print_event)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return 0

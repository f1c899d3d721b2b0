"""`caliban logs`: print a job's output (local emulator; Vertex points to Cloud Logging)."""

from __future__ import annotations

import argparse
import sys

from ..flags import add_logs_arguments
from .status import print_event, settings_from_args

HELP = "Print a job's log (JOB: display name, resource name or job id)."

add_arguments = add_logs_arguments


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking

    if args.follow:
        return follow(args)
    text = tracking.logs(args.job, xgroup=args.xgroup, tail=args.tail,
                         settings=settings_from_args(args), progress=print_event)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return 0


def follow(args: argparse.Namespace) -> int:
    """``--follow``: print each new piece of the log until the job ends or Ctrl-C."""
    from ..service.track import follow_logs

    chunks = follow_logs(args.job, xgroup=args.xgroup, tail=args.tail,
                         settings=settings_from_args(args), progress=print_event)
    last = "\n"
    try:
        for chunk in chunks:
            sys.stdout.write(chunk)
            sys.stdout.flush()
            last = chunk[-1:]
    except KeyboardInterrupt:
        chunks.close()
        if last != "\n":
            sys.stdout.write("\n")
        print(f"stopped following {args.job}; the job keeps running (`caliban stop "
              f"{args.job}` stops it)", file=sys.stderr)
        return 0
    if last != "\n":
        sys.stdout.write("\n")
    return 0

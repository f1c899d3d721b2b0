"""`caliban outputs`: copy what jobs wrote (files, -o values, executed notebooks) here."""

from __future__ import annotations

import argparse

from ..flags import add_outputs_arguments
from .status import settings_from_args

HELP = "Download what the jobs of a group (or one JOB) wrote to their output location."

add_arguments = add_outputs_arguments


def run(args: argparse.Namespace) -> int:
    from ..service.outputs import download_summary
    from ..service.track import group_download

    report, dest, records = group_download(args.job, xgroup=args.xgroup, dest=args.dest,
                                           settings=settings_from_args(args))
    print(download_summary(report, dest, [r.display_name for r in records]))
    return 0

"""`caliban outputs`: copy what jobs wrote (files, -o values, executed notebooks) here."""

from __future__ import annotations

import argparse

from .status import add_backend_arguments, settings_from_args

HELP = "Download what the jobs of a group (or one JOB) wrote to their output location."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB", nargs="?",
                        help="one job (display name, resource name or id); default: every "
                             "job of the group")
    parser.add_argument("--xgroup", help="the experiment group (default: the latest)")
    parser.add_argument("--dest", metavar="DIR",
                        help="where to put them (default caliban_outputs/XGROUP): "
                             "DIR/JOB/... and executed notebooks as DIR/JOB.ipynb")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..service.outputs import group_download

    report, dest, records = group_download(args.job, xgroup=args.xgroup, dest=args.dest,
                                           settings=settings_from_args(args))
    print(summary(report, dest, [r.display_name for r in records]))
    return 0


def summary(report, dest, names) -> str:
    """What a download did, in a few lines (shared with %caliban_outputs)."""
    from pathlib import Path

    lines = [f"{len(report.copied)} file(s) copied ({report.bytes / 1e6:.1f} MB), "
             f"{len(report.skipped)} already there with the same hash, in {dest}"]
    notebooks = [Path(dest, f"{n}.ipynb") for n in names if Path(dest, f"{n}.ipynb").exists()]
    lines += [f"  executed notebook: {p}" for p in notebooks]
    return "\n".join(lines)

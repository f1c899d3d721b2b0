"""`caliban export`: a notebook becomes a job directory that `caliban cloud` submits as is."""

from __future__ import annotations

import argparse
import sys

HELP = ("Write a notebook as a job directory (main.py, requirements.txt, flags, submit.sh) "
        "to read, commit and submit.")

USAGE = "caliban export [flags] NOTEBOOK.ipynb --to DIR [--force] [-- SCRIPT_ARGS...]"

EPILOG = """\
The directory holds main.py (the notebook's code cells as one program; the values of the
cell tagged "parameters" are overridable per job with --NAME VALUE), requirements.txt,
experiment.json (with --experiment_config), .calibanconfig.json (the flags given here,
which `caliban cloud` reads there) and submit.sh (the `caliban cloud` command), plus copies
of the local modules the code imports and of the --dir directories.

A non-empty DIR is written into only after you say yes, or with --force (the files the
export writes are replaced, other files are left as they are).

Examples:
  caliban export analysis.ipynb --to jobs/analysis
  caliban export --nogpu --experiment_config exp.json analysis.ipynb --to job -- --epochs 3
  bash job/submit.sh --backend local
"""

# Flags of `caliban cloud` that belong to one submission, not to the job written down.
_PER_SUBMISSION = {
    "xgroup": "the experiment group is chosen when you submit: bash submit.sh --xgroup NAME",
    "image_tag": "an export is the job's source; to run an existing image, use caliban "
                 "cloud --image_tag",
    "dry_run": "to see the jobs an export submits: bash submit.sh --dry_run",
    "show_program": "the program is main.py in the directory",
    "format": "the export prints what it wrote; caliban cloud --format applies when you "
              "submit",
    "cloud_key": "credentials stay with whoever submits: bash submit.sh --cloud_key KEY",
}


class _NotForExport(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        kwargs.update(nargs="?", help=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, f"not part of an export: "
                                           f"{_PER_SUBMISSION[self.dest]}")


def add_job_arguments(p: argparse.ArgumentParser) -> None:
    """`caliban cloud`'s flags that define the job, and ``--force`` to write into a
    non-empty directory (shared by `caliban export`, ``%caliban_export`` and nbconvert)."""
    from .cloud import add_cloud_arguments

    add_cloud_arguments(p, module=False)
    # --force means "write into a non-empty directory" here, as the export's own flag;
    # `caliban cloud --force` (skip combination checks) can go in the config as "force".
    g = p.add_argument_group("export", conflict_handler="resolve")
    g.add_argument("--force", dest="overwrite", action="store_true",
                   help="write into DIR even when it is not empty (without asking): the files "
                        "the export writes are replaced, other files are left as they are")
    defaults = {"dry_run": False, "format": "text", "show_program": False}
    for dest in _PER_SUBMISSION:
        g.add_argument(f"--{dest}", dest=dest, action=_NotForExport,
                       default=defaults.get(dest))


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_job_arguments(p)
    p.usage = USAGE
    p.epilog = EPILOG
    p.add_argument("notebook", metavar="NOTEBOOK.ipynb", help="the notebook to export")
    p.add_argument("--to", required=True, metavar="DIR",
                   help="the directory to write (created when missing)")
    p.add_argument("_extra", nargs="*", default=[], help=argparse.SUPPRESS)
    p.set_defaults(_takes_script_args=True)


def ask(question: str) -> bool | None:
    """Ask a yes/no question on the terminal; ``None`` when there is no terminal."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from ..service.export import export_job, notebook_job
    from ..service.plan import CloudRequest

    args.module = args.notebook
    request = CloudRequest.from_namespace(args)
    job = notebook_job(request)
    exported = export_job(job, args.to, force=args.overwrite, confirm=ask)
    print(repr(exported))
    return 0

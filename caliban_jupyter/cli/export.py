"""`caliban export`: a notebook becomes a job directory that `caliban cloud` submits as is."""

from __future__ import annotations

import argparse

from ..flags import add_export_arguments

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

def add_arguments(p: argparse.ArgumentParser) -> None:
    add_export_arguments(p)
    p.usage = USAGE
    p.epilog = EPILOG
    p.add_argument("notebook", metavar="NOTEBOOK.ipynb", help="the notebook to export")
    p.add_argument("--to", required=True, metavar="DIR",
                   help="the directory to write (created when missing)")
    p.add_argument("_extra", nargs="*", default=[], help=argparse.SUPPRESS)
    p.set_defaults(_takes_script_args=True)


def run(args: argparse.Namespace) -> int:
    from ..ask import yes_no
    from ..service.export import export_job, notebook_job
    from ..service.plan import CloudRequest

    args.module = args.notebook
    request = CloudRequest.from_namespace(args)
    job = notebook_job(request)
    exported = export_job(job, args.to, force=args.overwrite, confirm=yes_no)
    print(repr(exported))
    return 0

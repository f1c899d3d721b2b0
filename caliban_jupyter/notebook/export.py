"""``%caliban_export DIR``: a ``%%caliban_cloud`` cell of this kernel as a job directory.

Which cell: the last ``%%caliban_cloud`` cell run (its line gives the flags; flags on the
export line are added, and win), or with ``--cell`` the cell the magic is in, or the body
of ``%%caliban_export DIR``. The code is captured exactly as ``%%caliban_cloud`` captures
it, against the cells run before that cell, then written by :mod:`caliban_jupyter.service.export`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..flags import add_export_arguments
from .args import CAPTURE_HELP, MagicParser, cloud_parser, parse_line

MAGIC = "%caliban_export"


def export_parser() -> MagicParser:
    """``%caliban_export DIR [--cell] [--force] [caliban cloud flags]``."""
    p = MagicParser(prog=MAGIC, formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Write a %%caliban_cloud cell as a job directory: main.py, "
                                "requirements.txt, experiment.json, .calibanconfig.json, "
                                "submit.sh and the local modules it imports.")
    add_export_arguments(p)
    p.usage = "%(prog)s DIR [--cell] [--force] [flags] [-- SCRIPT_ARGS...]"
    p.epilog = ("Without --cell: the last %%caliban_cloud cell run in this kernel, with its "
                "flags (flags given here are added and win).")
    p.add_argument("target", metavar="DIR", help="the directory to write (created when missing)")
    p.add_argument("--cell", action="store_true",
                   help="export this cell's code (the lines other than this magic; they "
                        "still run here afterwards) instead of the last %%caliban_cloud cell")
    p.add_argument("--capture", choices=["deps", "all"], default=None, help=CAPTURE_HELP)
    return p


def _raw_history(shell: Any) -> list[str]:
    return list(shell.history_manager.input_hist_raw)  # In[0] is empty: index == In number


def _running_cell(shell: Any, raw: Sequence[str]) -> int:
    from .api import running_cell

    return running_cell(shell, raw)


def _given(parser: MagicParser, args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the export line (other than its own)."""
    defaults = vars(parser.parse_args(["x"]))
    return {k: v for k, v in vars(args).items()
            if not k.startswith("_") and k not in ("target", "cell", "overwrite", "script_args")
            and v != defaults.get(k)}


def _last_cloud_cell(shell: Any, export_args: argparse.Namespace,
                     parser: MagicParser) -> tuple[argparse.Namespace, str, list[str], int]:
    """The last ``%%caliban_cloud`` cell: (its args with the export line's, body,
    the history before it, its ``In`` number)."""
    raw = _raw_history(shell)
    for index in range(_running_cell(shell, raw) - 1, 0, -1):
        text = raw[index].lstrip()
        if text.startswith("%%caliban_cloud"):
            break
    else:
        raise UsageError(f"{MAGIC}: no %%caliban_cloud cell has run in this kernel yet. Run "
                         "one first, or export this cell's code with --cell")
    first, _, body = text.partition("\n")
    line = shell.var_expand(first[len("%%caliban_cloud"):], depth=1)
    args = parse_line(cloud_parser(), line)
    for key, value in _given(parser, export_args).items():
        previous = getattr(args, key, None)
        setattr(args, key, [*previous, *value] if isinstance(previous, list) else value)
    if export_args.script_args:
        args.script_args = [*args.script_args, *export_args.script_args]
    return args, body, raw[:index], index


def _this_cell(shell: Any) -> tuple[str, list[str], int]:
    """The running cell without its ``%caliban_export`` lines, and the history before it."""
    raw = _raw_history(shell)
    index = _running_cell(shell, raw)
    lines = [ln for ln in raw[index].splitlines() if not ln.lstrip().startswith(MAGIC)]
    body = "\n".join(lines).strip("\n")
    if not body.strip():
        raise UsageError(f"{MAGIC} --cell: the cell has no code besides this magic; write "
                         "the job's code in the same cell")
    return body, raw[:index], index


def _notebook_path(shell: Any) -> str | None:
    # Jupyter servers tell the kernel which notebook it runs (ipykernel's __session__).
    path = shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    return str(path) if path else None


def _confirm(question: str) -> bool | None:
    """Ask in the notebook when the front end takes input; ``None`` when it cannot."""
    from IPython.core.error import StdinNotImplementedError

    try:
        answer = input(question)
    except (StdinNotImplementedError, EOFError):
        return None
    return answer.strip().lower() in ("y", "yes")


def export_from_kernel(shell: Any, line: str, cell: str | None = None):
    """Run ``%caliban_export`` (``cell`` is the body of ``%%caliban_export``)."""
    from ..service.export import cell_job, export_job
    from .api import cloud_request

    parser = export_parser()
    args = parse_line(parser, line)
    if cell is not None or args.cell:
        if cell is not None:
            raw = _raw_history(shell)
            index = _running_cell(shell, raw)
            body, history = cell, raw[:index]
        else:
            body, history, index = _this_cell(shell)
        cloud_args = args
    else:
        cloud_args, body, history, index = _last_cloud_cell(shell, args, parser)
    request = cloud_request(cloud_args, code=body, history=history, user_ns=shell.user_ns,
                            cwd=os.getcwd())
    job = cell_job(request, cell=f"In[{index}]", source=_notebook_path(shell))
    return export_job(job, args.target, force=args.overwrite, confirm=_confirm)


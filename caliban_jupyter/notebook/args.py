"""The parsers of the notebook's magics and of the Python API.

The magics parse the very flags ``caliban cloud`` defines
(:func:`caliban_jupyter.flags.add_cloud_arguments`), plus ``--capture``; the Python API
turns keyword options into the same namespace
(:func:`caliban_jupyter.flags_parse.namespace_from_options`), so both front ends accept
exactly the CLI's flags and validate them in one place.
"""

from __future__ import annotations

import argparse

from ..flags import add_cloud_arguments
from ..flags_parse import (
    HelpShown,
    MagicParser,
    command_parser,
    namespace_from_options,
    parse_line,
)

# The notebook modules parse through this one module: the parser plumbing is re-exported.
__all__ = ["CAPTURE_HELP", "HelpShown", "MagicParser", "cloud_parser", "command_parser",
           "namespace_from_options", "parse_line"]

CAPTURE_HELP = ("which earlier cells become part of the job: 'deps' (default) keeps only "
                "those defining names the cell uses, 'all' keeps every earlier cell")


def cloud_parser(prog: str = "%%caliban_cloud") -> MagicParser:
    """The parser of ``%%caliban_cloud``: the CLI's cloud flags plus ``--capture``."""
    p = MagicParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Run this cell's code (with what it needs from earlier cells) "
                                "as a labeled job sweep on Vertex AI or the local emulator.")
    add_cloud_arguments(p, module=False)
    p.usage = "%(prog)s [flags] [-- SCRIPT_ARGS...]"
    p.epilog = (p.epilog or "").replace("MODULE is", "In the Python API, MODULE is", 1)
    p.add_argument("--capture", choices=["deps", "all"], default=None, help=CAPTURE_HELP)
    p.add_argument("--form", action="store_true",
                   help="open a submission form for this cell, prefilled from the line")
    if prog == "%%caliban_cloud":
        p.add_argument("--as", dest="as_name", metavar="NAME", default=None,
                       help="also assign the cell's result (the Sweep, or the DryRun of "
                            "--dry_run) to the variable NAME; `_` is it too unless the "
                            "notebook assigns `_` itself (then: Out[n] or "
                            "caliban_jupyter.last())")
    return p

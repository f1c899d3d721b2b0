"""IPython magics: ``%%caliban_cloud`` and the ``%caliban_*`` line magics (thin).

Each magic parses its line with the CLI's own parser, calls :mod:`caliban_jupyter.api`
and returns what it returns (a displayable :class:`~caliban_jupyter.sweep.Sweep`). A
:class:`~caliban_jupyter.errors.CalibanError` becomes IPython's ``UsageError``: one
line, no traceback, nothing built or submitted.

Loading costs a few milliseconds: Docker, the Google SDK and ipywidgets are imported only
when a cell needs them.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ._magic_args import HelpShown, MagicParser, cloud_parser, command_parser, parse_line
from .errors import CalibanError


def _as_usage_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a CalibanError as one line (IPython prints UsageError without a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HelpShown:
            return None
        except CalibanError as e:
            raise IPythonUsageError(str(e)) from None

    return wrapper


def _with_help(doc: str, parser: MagicParser) -> str:
    """``%magic?`` shows the docstring: append the parser's full help to it."""
    return f"{doc.rstrip()}\n\n{parser.format_help()}"


# -- parsers for the tracking magics (the CLI's flags) -------------------------------------

def _where(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where")
    g.add_argument("--backend", choices=["vertex", "local"])
    g.add_argument("--project_id")
    g.add_argument("--region")
    g.add_argument("--cloud_key", metavar="KEY_JSON")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xgroup", help="experiment group (default: the latest groups)")
    p.add_argument("--max_jobs", type=int, help="jobs shown per group")
    _where(p)


def _stop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xgroup", help="experiment group (default: the latest)")
    p.add_argument("--dry_run", action="store_true", help="list what would stop; stop nothing")
    _where(p)


def _resubmit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xgroup", required=True, help="experiment group to complete")
    p.add_argument("--all_jobs", action="store_true",
                   help="resubmit every job, not only FAILED/CANCELLED/NOT_SUBMITTED")
    p.add_argument("--dry_run", action="store_true", help="list what would be resubmitted")
    _where(p)


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="display name, resource name or job id")
    p.add_argument("--xgroup", help="experiment group of JOB")
    p.add_argument("--tail", type=int, help="only the last N lines")
    _where(p)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nogpu", action="store_true", help="settings for CPU-only jobs")


def _tracking_parser(name: str, fallback: Callable[[argparse.ArgumentParser], None]
                     ) -> MagicParser:
    """The CLI command's parser when its module exists, else the same flags from here."""
    import importlib

    try:
        module = importlib.import_module(f"caliban_jupyter.commands.{name}")
        add = module.add_arguments
    except (ModuleNotFoundError, AttributeError):
        add = fallback
    return command_parser(f"%caliban_{name}", add)


_PARSERS: dict[str, Callable[[], MagicParser]] = {
    "cloud": cloud_parser,
    "status": lambda: _tracking_parser("status", _status_args),
    "stop": lambda: _tracking_parser("stop", _stop_args),
    "resubmit": lambda: _tracking_parser("resubmit", _resubmit_args),
    "logs": lambda: _tracking_parser("logs", _logs_args),
    "config": lambda: command_parser("%caliban_config", _config_args),
}


@functools.lru_cache(maxsize=None)
def parser(name: str) -> MagicParser:
    return _PARSERS[name]()


def _where_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("backend", "project_id", "region", "cloud_key")
            if getattr(args, k, None) is not None}


@magics_class
class CalibanMagics(Magics):
    """``%%caliban_cloud`` and ``%caliban_status/stop/resubmit/logs/config``."""

    @cell_magic
    @_as_usage_errors
    def caliban_cloud(self, line: str, cell: str) -> Any:
        """Run this cell as a job sweep on Vertex AI or the local Vertex emulator.

        The cell body is the job's program. Names it uses from earlier cells are captured
        with the cells defining them (``--capture all``: every earlier cell). Kernel
        variables work in the line (``--gpu_spec {n}xV100``, ``$cfg``), and
        ``--experiment_config NAME`` also takes a variable holding a dict or list; its keys
        become variables of the program, set per job. Without requirements.txt or setup
        files here, the captured imports are installed at the versions of this kernel.
        Returns a Sweep: ``.jobs``, ``.refresh()``, ``.wait()``, ``.stop()``.
        Defaults: ``%config Caliban.backend = "local"`` (see ``%caliban_config``).
        """
        from . import api

        args = parse_line(parser("cloud"), line)
        if not cell.strip():
            raise CalibanError("%%caliban_cloud: the cell is empty; write the job's code in "
                               "the cell body, below the magic's line")
        return api.run_cloud(args, code=cell, history=api.kernel_history(),
                             user_ns=self.shell.user_ns if self.shell else None)

    @line_magic
    @_as_usage_errors
    def caliban_status(self, line: str) -> Any:
        """Show the jobs of an experiment group (default: the latest groups), refreshed."""
        from . import api

        args = parse_line(parser("status"), line)
        return api.status(getattr(args, "xgroup", None),
                          max_jobs=getattr(args, "max_jobs", None), **_where_kwargs(args))

    @line_magic
    @_as_usage_errors
    def caliban_stop(self, line: str) -> Any:
        """Cancel the running jobs of an experiment group (default: the latest)."""
        from . import api

        args = parse_line(parser("stop"), line)
        return api.stop(getattr(args, "xgroup", None),
                        dry_run=bool(getattr(args, "dry_run", False)), **_where_kwargs(args))

    @line_magic
    @_as_usage_errors
    def caliban_resubmit(self, line: str) -> Any:
        """Resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs of a group (no rebuild)."""
        from . import api

        args = parse_line(parser("resubmit"), line)
        return api.resubmit(args.xgroup, all_jobs=bool(getattr(args, "all_jobs", False)),
                            dry_run=bool(getattr(args, "dry_run", False)),
                            **_where_kwargs(args))

    @line_magic
    @_as_usage_errors
    def caliban_logs(self, line: str) -> None:
        """Print a job's output (local emulator)."""
        from . import api

        args = parse_line(parser("logs"), line)
        print(api.logs(args.job, xgroup=getattr(args, "xgroup", None),
                       tail=getattr(args, "tail", None), **_where_kwargs(args)), end="")

    @line_magic
    @_as_usage_errors
    def caliban_config(self, line: str) -> Any:
        """Show the effective settings and where each came from.

        Set session defaults with ``%config Caliban.<name> = value`` (names: project_id,
        region, backend, base_image, registry, cloud_key, endpoint, capture).
        """
        from . import api

        args = parse_line(parser("config"), line)
        return api.config(nogpu=args.nogpu)


for _name in ("cloud", "status", "stop", "resubmit", "logs", "config"):
    _fn = getattr(CalibanMagics, f"caliban_{_name}")
    _fn.__doc__ = _with_help(_fn.__doc__ or "", parser(_name))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext caliban_jupyter``: register the magics and the ``Caliban`` config."""
    from .config import register

    register(ipython)
    ipython.register_magics(CalibanMagics)

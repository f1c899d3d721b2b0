"""IPython magics: ``%%caliban_cloud`` and the ``%caliban_*`` line magics (thin).

Each magic parses its line with the CLI's own parser, calls :mod:`caliban_jupyter.notebook.api`
and returns what it returns (a displayable :class:`~caliban_jupyter.notebook.sweep.Sweep`). A
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
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

from ..errors import CalibanError
from ..flags import COMMAND_FLAGS, where_of
from .args import HelpShown, MagicParser, cloud_parser, command_parser, parse_line


def _showing(error: type[Exception]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that shows a CalibanError as one line, raised as ``error``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except HelpShown:
                return None
            except CalibanError as e:
                raise error(str(e)) from None

        return wrapper

    return decorate


class UsageError(Exception):  # noqa: N818 - the name the notebook shows, as IPython's
    """A mistake or refusal of a ``%%caliban_cloud`` cell: the cell fails (an error output,
    so "Run all" stops and anything checking the cell's errors sees it), shown as one line
    ``UsageError: ...`` without a traceback. (IPython's own UsageError only prints to
    stderr: the cell would succeed.)"""

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


#: IPython prints its UsageError without a traceback (the cell still succeeds): the
#: follow-up magics' mistakes.
_as_usage_errors = _showing(IPythonUsageError)
#: ``%%caliban_cloud``'s mistakes and refusals fail the cell (see :class:`UsageError`).
_as_cell_errors = _showing(UsageError)


def _with_help(doc: str, parser: MagicParser) -> str:
    """``%magic?`` shows the docstring: append the parser's full help to it."""
    return f"{doc.rstrip()}\n\n{parser.format_help()}"


# -- parsers: the CLI commands' own flags (caliban_jupyter.flags) ---------------------------

def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nogpu", action="store_true", help="settings for CPU-only jobs")


def _tracking_parser(name: str) -> MagicParser:
    """The parser of `caliban NAME`, from the flags the command defines."""
    return command_parser(f"%caliban_{name}", COMMAND_FLAGS[name])


_PARSERS: dict[str, Callable[[], MagicParser]] = {
    "cloud": cloud_parser,
    "status": lambda: _tracking_parser("status"),
    "stop": lambda: _tracking_parser("stop"),
    "resubmit": lambda: _tracking_parser("resubmit"),
    "logs": lambda: _tracking_parser("logs"),
    "outputs": lambda: _tracking_parser("outputs"),
    "config": lambda: command_parser("%caliban_config", _config_args),
    "form": lambda: _form_parser(),
    "export": lambda: _export_parser(),
}


def _export_parser() -> MagicParser:
    from .export import export_parser

    return export_parser()


def _form_parser() -> MagicParser:
    p = cloud_parser("%caliban_form")
    p.usage = "%(prog)s [flags] TARGET [-- SCRIPT_ARGS...]"
    p.add_argument("target", nargs="?", help="module, script or notebook (empty: choose in "
                   "the form)")
    return p


@functools.cache
def parser(name: str) -> MagicParser:
    return _PARSERS[name]()


@magics_class
class CalibanMagics(Magics):
    """``%%caliban_cloud`` and ``%caliban_status/stop/resubmit/logs/outputs/config``."""

    @cell_magic
    @_as_cell_errors
    def caliban_cloud(self, line: str, cell: str) -> Any:
        """Run this cell as a job sweep on Vertex AI or the local Vertex emulator.

        The cell body is the job's program. Names it uses from earlier cells are captured
        with the cells defining them (``--capture all``: every earlier cell). Kernel
        variables work in the line (``--gpu_spec {n}xV100``, ``$cfg``), and
        ``--experiment_config NAME`` also takes a variable holding a dict or list; its keys
        become variables of the program, set per job. Without requirements.txt or setup
        files here, the captured imports are installed at the versions of this kernel.
        Returns a Sweep: ``.jobs``, ``.refresh()``, ``.wait()``, ``.stop()``; also in
        ``Out[n]``, ``caliban_jupyter.last()`` and, with ``--as NAME``, in ``NAME``.
        A mistake or a refusal fails the cell with one line, before anything is built.
        Defaults: ``%config Caliban.backend = "local"`` (see ``%caliban_config``).
        """
        from . import api

        args = parse_line(parser("cloud"), line)
        if not cell.strip():
            raise CalibanError("%%caliban_cloud: the cell is empty; write the job's code in "
                               "the cell body, below the magic's line")
        user_ns = self.shell.user_ns if self.shell else None
        if args.form:
            from . import forms as _forms

            options = _forms.changed_options(parser("cloud"), args)
            options.pop("as_name", None)  # the form is the cell's result; Submit's is its own
            return _forms.program_form(cell, api.kernel_history(), args, options, user_ns)
        result = api.run_cloud(args, code=cell, history=api.kernel_history(), user_ns=user_ns)
        if args.as_name:
            if not args.as_name.isidentifier():
                raise CalibanError(f"--as {args.as_name}: not a variable name; use a Python "
                                   "identifier such as `sweep`")
            if user_ns is not None:
                user_ns[args.as_name] = result
        return result

    @line_magic
    @_as_usage_errors
    def caliban_form(self, line: str) -> Any:
        """Open a submission form for a module, script or notebook (``%caliban_form
        trainer.train``); flags after the target prefill it."""
        from . import forms as _forms

        args = parse_line(parser("form"), line)
        options = _forms.changed_options(parser("form"), args)
        script_args = options.pop("script_args", [])
        options.pop("target", None)
        return _forms.form(args.target, *script_args, **options)

    @line_magic
    @_as_usage_errors
    def caliban_status(self, line: str) -> Any:
        """Show the jobs of an experiment group (default: the latest groups), refreshed."""
        from . import api

        args = parse_line(parser("status"), line)
        result = api.status(args.xgroup, max_jobs=args.max_jobs, max_groups=args.max_groups,
                            all_attempts=args.all_attempts, **where_of(args))
        if args.format == "json" or args.all_attempts:
            from ..tables import render_json, render_table

            sweeps = [result] if isinstance(result, api.Sweep) else result
            records = [r for s in sweeps for r in (s.attempts if args.all_attempts
                                                   else s.records)]
            print(render_json(records) if args.format == "json" else render_table(records))
            return None
        return result

    @line_magic
    @_as_usage_errors
    def caliban_stop(self, line: str) -> Any:
        """Cancel one job (``%caliban_stop JOB``) or the running jobs of a group.

        With no JOB and no ``--xgroup``: the newest group this kernel submitted jobs to.
        When this kernel submitted none, the newest group on this machine may be another
        kernel's or shell's: its jobs are listed and you are asked first (``--yes`` skips
        the question; a front end with no input box refuses and says what to pass).
        """
        from . import api

        args = parse_line(parser("stop"), line)
        return api.stop(args.xgroup, args.job, dry_run=args.dry_run, yes=args.yes,
                        **where_of(args))

    @line_magic
    @_as_usage_errors
    def caliban_resubmit(self, line: str) -> Any:
        """Resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs of a group (no rebuild)."""
        from . import api

        args = parse_line(parser("resubmit"), line)
        return api.resubmit(args.xgroup, all_jobs=args.all_jobs, dry_run=args.dry_run,
                            rate_per_minute=args.rate_per_minute, **where_of(args))

    @line_magic
    @_as_usage_errors
    def caliban_logs(self, line: str) -> None:
        """Print a job's output (local emulator); ``--follow`` until the job ends."""
        from . import api

        args = parse_line(parser("logs"), line)
        if not args.follow:
            print(api.logs(args.job, xgroup=args.xgroup, tail=args.tail,
                           **where_of(args)), end="")
            return
        chunks = api.follow_logs(args.job, xgroup=args.xgroup, tail=args.tail,
                                 **where_of(args))
        try:
            for chunk in chunks:
                print(chunk, end="", flush=True)
        except KeyboardInterrupt:  # Interrupt the kernel: stop following, no traceback
            chunks.close()
            print(f"\nstopped following {args.job}; the job keeps running "
                  f"(%caliban_stop {args.job} stops it)")

    @line_cell_magic
    @_as_usage_errors
    def caliban_export(self, line: str, cell: str | None = None) -> Any:
        """Write a %%caliban_cloud cell as a job directory to read, commit and submit.

        ``%caliban_export DIR``: the last ``%%caliban_cloud`` cell run in this kernel, with
        its flags; ``%caliban_export DIR --cell``: this cell's other lines (they still run
        here afterwards); ``%%caliban_export DIR [flags]``: this cell's body (not run).
        DIR gets main.py (the captured program; a header says where it came from and what
        was left out), requirements.txt, experiment.json, .calibanconfig.json (the flags),
        submit.sh and copies of the local modules it imports. A non-empty DIR is written
        into only if you answer yes, or with ``--force``.
        """
        from .export import export_from_kernel

        return export_from_kernel(self.shell, line, cell)

    @line_magic
    @_as_usage_errors
    def caliban_outputs(self, line: str) -> None:
        """Download what the jobs of a group (default: the latest) or one JOB wrote, with
        their executed notebooks as DEST/JOB.ipynb; unchanged files are skipped."""
        from . import api

        args = parse_line(parser("outputs"), line)
        api.outputs(args.job, xgroup=args.xgroup, dest=args.dest, **where_of(args))

    @line_magic
    @_as_usage_errors
    def caliban_config(self, line: str) -> Any:
        """Show the effective settings and where each came from.

        Set session defaults with ``%config Caliban.<name> = value`` (names: project_id,
        region, backend, base_image, registry, cloud_key, endpoint, output_dir, capture).
        """
        from . import api

        args = parse_line(parser("config"), line)
        return api.config(nogpu=args.nogpu)


for _name in ("cloud", "status", "stop", "resubmit", "logs", "outputs", "config", "export"):
    _fn = getattr(CalibanMagics, f"caliban_{_name}")
    _fn.__doc__ = _with_help(_fn.__doc__ or "", parser(_name))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext caliban_jupyter``: register the magics and the ``Caliban`` config."""
    from .session import register

    register(ipython)
    ipython.register_magics(CalibanMagics)

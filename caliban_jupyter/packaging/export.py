"""What ``caliban export`` writes: a job directory that ``caliban cloud`` submits as it is.

The directory holds the program (``main.py``, with a header saying where it came from and
what was left out), ``requirements.txt``, the experiment config (``experiment.json``), the
flags (``.calibanconfig.json``, which ``caliban cloud`` reads), ``submit.sh`` with the
command, and copies of the local modules and ``--dir`` directories the job needs.

Everything here is pure apart from reading the files to copy: :class:`JobDirectory` is the
directory's content as data; :mod:`.export_files` writes it to disk or a zip.
"""

from __future__ import annotations

import ast
import json
import shlex
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager

from caliban_jupyter.errors import CaptureError
from caliban_jupyter.capture.deps import BUILTIN_NAMES, IPYTHON_ONLY
from caliban_jupyter.capture.scan import Statement, leading_blank_lines, scan_cell

_WIDTH = 88  # of a header line, without its "# "

PROGRAM = "main.py"
REQUIREMENTS = "requirements.txt"
EXPERIMENT = "experiment.json"
CONFIG = ".calibanconfig.json"
SUBMIT = "submit.sh"

__all__ = ["CONFIG", "EXPERIMENT", "PROGRAM", "REQUIREMENTS", "SUBMIT", "JobDirectory",
           "check_notebook", "cloud_command", "render_config", "render_program",
           "render_requirements", "render_submit"]


@dataclass(frozen=True)
class JobDirectory:
    """The content of an exported job directory.

    Attributes
    ----------
    files
        Generated files: relative POSIX path -> content.
    copies
        Files copied from the project: relative POSIX path in the directory -> source path.
    notes
        One line per decision a person should know about (what was copied, from where).
    """

    files: Mapping[str, bytes]
    copies: Mapping[str, str]
    notes: tuple[str, ...] = ()

    def paths(self) -> list[str]:
        """Every path the directory will hold, sorted."""
        return sorted({*self.files, *self.copies})


# ------------------------------------------------------------------------------- notebook

def check_notebook(cells: Sequence[tuple[int, str]], name: str,
                   parameters: Iterable[str] = ()) -> None:
    """Check that a notebook can become one Python program; name what cannot.

    ``cells`` are ``(number, source)`` of the code cells in order (``number`` is where the
    user finds the cell). A program runs the notebook's shell lines but not its other
    magics; that is fine as long as no statement it runs reads a name only such a magic
    sets (``files = !ls``), or a name only IPython provides (``display``, ``get_ipython``).

    Raises
    ------
    CaptureError
        A cell that does not parse, or a statement that needs what a program cannot run;
        the message names the statement and where it is.
    """
    latest: dict[str, Statement] = {}
    problems: list[str] = []
    given = set(parameters)
    position = 0
    for number, source in cells:
        statements = scan_cell(source, number, position)
        if statements is None:
            raise CaptureError(f"{name}: cell {number} is not valid Python "
                               f"({_syntax_error(source)}); fix it and export again")
        position += len(statements)
        for statement in statements:
            if not statement.magic:
                problems.extend(_needs(statement, latest, given))
            for bound in statement.definite | statement.maybe:
                latest[bound] = statement
    if problems:
        raise CaptureError(
            f"cannot export {name} as a Python program:" +
            "".join(f"\n  - {p}" for p in dict.fromkeys(problems)) +
            "\nChange those cells (plain Python instead of magics) and export again, or "
            "submit the notebook itself, which runs in a kernel.")


def _syntax_error(text: str) -> str:
    try:
        ast.parse(TransformerManager().transform_cell(text))
    except SyntaxError as e:
        return f"line {(e.lineno or 0) + leading_blank_lines(text)}: {e.msg}"
    return "it is not valid Python"


def _place(statement: Statement) -> str:
    line = statement.span[0] if statement.node is not None else 1
    return f"cell {statement.cell}, line {line + statement.line_offset} " \
           f"(`{statement.raw_line(line)}`)"


def _needs(statement: Statement, latest: Mapping[str, Statement],
           given: set[str]) -> Iterable[str]:
    for name in {**statement.uses, **statement.deferred}:
        setter = latest.get(name)
        if setter is not None and setter.magic:
            yield (f"{_place(statement)} uses `{name}`, which only the magic or shell "
                   f"command at {_place(setter)} sets: a program does not run it")
        elif setter is None and name in IPYTHON_ONLY and name not in BUILTIN_NAMES \
                and name not in given:
            yield (f"{_place(statement)} uses `{name}`, which exists only inside IPython, "
                   "not in a `python3` job")


# ------------------------------------------------------------------------------ rendering

def _comment(lines: Iterable[str]) -> str:
    """Comment lines; prose is wrapped, indented lines (commands, lists) are kept whole."""
    out = []
    for line in lines:
        if line.startswith(" ") or len(line) <= _WIDTH:
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, _WIDTH, break_long_words=False,
                                     break_on_hyphens=False))
    return "".join(f"# {line}".rstrip() + "\n" for line in out)


def render_program(header: Sequence[str], left_out: Sequence[str], source: str) -> str:
    """``main.py``: the header, one line per statement left out and why, then the program."""
    lines = [*header, "Left out of the program:" if left_out else "Nothing was left out."]
    for line in left_out:
        lines += textwrap.wrap(line, _WIDTH, initial_indent="  ", subsequent_indent="    ",
                               break_long_words=False, break_on_hyphens=False)
    return _comment(lines) + "\n" + source.lstrip("\n")


def render_requirements(pins: Sequence[str], why: str) -> str:
    """``requirements.txt`` for generated pins (``why`` says where they came from)."""
    return _comment([why]) + "".join(f"{p}\n" for p in pins)


def render_config(config: Mapping[str, Any]) -> str:
    """``.calibanconfig.json``: settings and flags, in the order :data:`_FLAG_ORDER` gives."""
    ordered = {k: config[k] for k in sorted(config, key=_order)}
    return json.dumps(ordered, indent=2) + "\n"


# The order flags appear in the config file and in the command: what, how, where.
_FLAG_ORDER = ("nogpu", "gpu_spec", "tpu_spec", "machine_type", "force", "experiment_config",
               "name", "labels", "dirs", "extras", "base_image", "apt_packages", "registry",
               "spot", "flex_start", "max_wait", "timeout", "restart_on_worker_restart",
               "disable_retries", "env", "service_account", "network", "tensorboard",
               "enable_web_access", "boot_disk_size", "boot_disk_type", "reservation",
               "workers", "worker_machine_type", "worker_gpu_spec", "build", "staging_bucket",
               "executor_image", "backend", "project_id", "region", "endpoint", "args")
_SWITCHES = ("nogpu", "force", "spot", "flex_start", "restart_on_worker_restart",
             "disable_retries", "enable_web_access")
_REPEATED = {"labels": "-l", "env": "--env", "dirs": "-d", "extras": "--extras"}


def _order(key: str) -> int:
    return _FLAG_ORDER.index(key) if key in _FLAG_ORDER else len(_FLAG_ORDER)


def cloud_command(config: Mapping[str, Any], program: str = PROGRAM) -> list[str]:
    """The explicit ``caliban cloud`` command that ``config`` amounts to."""
    flags: list[str] = []
    for key in sorted(config, key=_order):
        value = config[key]
        if key in _SWITCHES:
            flags += [f"--{key}"] if value else []
        elif key in _REPEATED:
            items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, Mapping) \
                else value
            for item in items:
                flags += [_REPEATED[key], str(item)]
        elif key not in ("args", "apt_packages") and not isinstance(value, Mapping):
            flags += [f"--{key}", str(value)]
    args = list(config.get("args", ()))
    return ["caliban", "cloud", *flags, program, *(["--", *args] if args else [])]


def render_submit(config: Mapping[str, Any], header: Sequence[str]) -> str:
    """``submit.sh``: ``caliban cloud`` run from the directory, whose config holds the flags.

    Flags given to the script come first and win over the file's, e.g.
    ``bash submit.sh --backend local``.
    """
    explicit = shlex.join(cloud_command(config))
    unflagged = [k for k in config if k == "apt_packages" or (
        k == "base_image" and isinstance(config[k], Mapping))]
    lines = [*header,
             "",
             f"caliban cloud reads the flags from {CONFIG}; with them spelled out this is",
             f"  {explicit}",
             *([f"({', '.join(unflagged)}: only in {CONFIG}.)"] if unflagged else []),
             "Flags given to this script go first and win, e.g. `bash submit.sh --backend "
             "local`.",
             "To see the jobs without building or submitting anything:",
             f"  bash {SUBMIT} --dry_run"]
    # The job's arguments live in the config file ("args") like the flags: repeating them
    # after `--` here would pass them twice.
    return ("#!/usr/bin/env bash\n" + _comment(lines) + "set -euo pipefail\n"
            'cd "$(dirname "$0")"\n' + f'exec caliban cloud "$@" {PROGRAM}\n')

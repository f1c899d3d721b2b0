"""Capture the notebook code a ``%%caliban_cloud`` cell needs as one runnable program (pure).

A researcher defines data loading and ``train()`` in earlier cells and submits one cell
that calls it. :func:`capture` turns that cell body plus the kernel's executed history
(``In`` or the history manager's input cells) into the source of ``caliban_main.py``::

    <__future__ imports seen in the history>
    <captured statements, in execution order>
    <experiment parameters parsed from sys.argv into globals()>
    <the cell body>

and :func:`pinned_requirements` says which installed distributions its imports come from.

Modes
-----
``"deps"`` (default)
    Only the top-level statements the body needs, transitively (see
    :mod:`caliban_jupyter.packaging.capture_deps` for the rules and their limits).
``"all"``
    Every statement of every executed cell, in order; no need is checked.

In both modes magic and shell lines are dropped, cells that do not parse and cell-magic
cells (including earlier ``%%caliban_cloud`` cells) are skipped.
"""

from __future__ import annotations

import ast
import importlib.metadata
import keyword
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

from caliban_jupyter.errors import CaptureError
from caliban_jupyter.packaging.capture_deps import link_global_writes, slice_statements
from caliban_jupyter.packaging.capture_scan import Statement, leading_blank_lines, scan_cell

__all__ = ["MODES", "CapturedProgram", "capture", "pinned_requirements"]

MODES = ("deps", "all")

# Runs in the job before the body. Parameters not given on the command line keep their
# notebook defaults (argparse.SUPPRESS), and unknown arguments are left for the body.
_PARAMETER_BLOCK = """\
def _caliban_parameters(names):
    import argparse
    import ast

    def value(text):
        try:
            return ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return text

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in names:
        parser.add_argument(
            "--" + name, dest=name, nargs="?", const=True, type=value,
            default=argparse.SUPPRESS,
        )
    known, _ = parser.parse_known_args()
    return vars(known)


globals().update(_caliban_parameters({names!r}))
del _caliban_parameters"""


@dataclass(frozen=True)
class CapturedProgram:
    """A complete Python program for the job, and what it was made from.

    Attributes
    ----------
    source
        The program to run as a script (``python3 caliban_main.py --lr 0.1``).
    imports
        Sorted top-level module names imported anywhere in the captured code and body.
    cells_used
        Sorted indexes into the history of the cells code was taken from.
    """

    source: str
    imports: tuple[str, ...]
    cells_used: tuple[int, ...]


def _check_parameters(parameters: Iterable[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(parameters))
    bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n)]
    if bad:
        raise CaptureError(
            f"Experiment parameters {bad} cannot become Python variables; only keys that "
            "are identifiers can be passed to a notebook cell. Rename them (e.g. "
            "`learning_rate` instead of `learning-rate`)."
        )
    return names


def _scan_history(history: Sequence[str]) -> list[Statement]:
    statements: list[Statement] = []
    for cell, text in enumerate(history):
        if not isinstance(text, str) or not text.strip():
            continue
        scanned = scan_cell(text, cell, len(statements))
        statements.extend(scanned or ())  # a cell that does not parse never ran
    return statements


def _scan_body(body: str, first_position: int) -> list[Statement]:
    scanned = scan_cell(body, None, first_position)
    if scanned is None:
        try:
            ast.parse(TransformerManager().transform_cell(body))
        except SyntaxError as error:
            line = (error.lineno or 0) + leading_blank_lines(body) + 1
            detail = f"{error.msg} at line {line} of this cell"
        else:  # pragma: no cover - scan_cell and ast.parse agree
            detail = "it is not valid Python"
        raise CaptureError(f"The cell does not parse: {detail}. Fix the syntax and rerun.")
    if len(scanned) == 1 and scanned[0].node is None:
        raise CaptureError(
            "The cell body is itself a cell magic; put the code to run directly under "
            "%%caliban_cloud."
        )
    return scanned


def _imports(nodes: Iterable[ast.AST]) -> tuple[str, ...]:
    found: set[str] = set()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    found.discard("__future__")
    return tuple(sorted(found))


def _render(
    history: list[Statement],
    parameters: tuple[str, ...],
    body: list[Statement],
    body_text: str,
) -> str:
    futures = sorted({s.source.strip() for s in [*history, *body] if s.future})
    parts = futures[:]
    cell: int | None = -1
    for statement in history:
        if statement.future:
            continue
        if statement.cell != cell:
            cell = statement.cell
            parts.append(f"\n# --- In[{cell}] ---")
        parts.append(statement.source)
    if parameters:
        parts.append("\n# --- experiment parameters (override the notebook's values) ---")
        parts.append(_PARAMETER_BLOCK.format(names=list(parameters)))
    parts.append("\n# --- the %%caliban_cloud cell ---")
    if all(not s.magic and not s.edited and not s.future for s in body):
        parts.append(body_text.rstrip())  # untouched: keep its comments and blank lines
    else:
        parts.extend(s.source for s in body if not s.magic and not s.future)
    return "\n".join(parts) + "\n"


def capture(
    body: str,
    history: Sequence[str],
    *,
    mode: str = "deps",
    parameters: Iterable[str] = (),
) -> CapturedProgram:
    """Build the job's program from a ``%%caliban_cloud`` cell body and the kernel history.

    Parameters
    ----------
    body
        The cell's source without its ``%%caliban_cloud`` line.
    history
        Raw sources of executed cells in execution order (IPython's ``In``); entries may
        contain magics, shell lines and code that failed to parse. The current cell may be
        included: cell-magic cells are skipped.
    mode
        ``"deps"``: take only what the body needs; ``"all"``: every executed statement.
    parameters
        Experiment parameter names. The program sets them as globals from its own command
        line (``--lr 0.1``; a bare ``--flag`` is True; values are Python literals or else
        strings) right before the body. Notebook definitions of them are still captured,
        as defaults for runs that do not pass them.

    Returns
    -------
    CapturedProgram

    Raises
    ------
    CaptureError
        An unknown mode, a parameter that is not an identifier, a body that does not
        parse, or (mode ``"deps"``) a needed name nothing or only a magic defines.
    """
    if mode not in MODES:
        raise CaptureError(f"Unknown capture mode {mode!r}; use one of {', '.join(MODES)}.")
    names = _check_parameters(parameters)
    statements = _scan_history(history)
    marker = Statement(len(statements), None, "", maybe=set(names))
    scanned_body = _scan_body(body, len(statements) + 1)
    everything = [*statements, marker, *scanned_body]
    if mode == "deps":
        link_global_writes(everything)
        taken = slice_statements(everything, [marker, *scanned_body], frozenset(names))
        kept = [s for s in statements if s.position in taken or s.future]
    else:
        kept = [s for s in statements if not s.magic]
    code = [s for s in kept if s.node is not None and not s.magic]
    used_body = [s for s in scanned_body if not s.magic and s.node is not None]
    body_text = TransformerManager().transform_cell(body)
    return CapturedProgram(
        source=_render(code, names, scanned_body, body_text),
        imports=_imports(s.node for s in [*code, *used_body] if s.node is not None),
        cells_used=tuple(sorted({s.cell for s in code if s.cell is not None})),
    )


def _is_local(module: str, cwd: Path) -> bool:
    if (cwd / f"{module}.py").is_file():
        return True
    package = cwd / module
    return package.is_dir() and any(package.glob("*.py"))


def pinned_requirements(imports: Iterable[str], *, cwd: str = ".") -> tuple[str, ...]:
    """Pin the installed distributions that provide ``imports`` (``"numpy==1.26.4"``).

    Standard-library modules, ``caliban_jupyter`` itself, and local modules (a ``.py``
    file or a directory of them in ``cwd``, which the build context carries) are left
    out. A module no installed distribution provides (e.g. the fallback branch of a
    ``try: import tomllib / except ImportError: import tomli``) is left out too: the kernel
    could not have imported it either. A namespace package such as ``google`` pins every
    distribution that contributes to it.

    Returns
    -------
    tuple of str
        ``name==version`` lines, sorted case-insensitively, without duplicates.
    """
    providers = importlib.metadata.packages_distributions()
    base = Path(cwd)
    pins: dict[str, str] = {}
    for module in {name.split(".")[0] for name in imports}:
        if module in sys.stdlib_module_names or module == "caliban_jupyter":
            continue
        if _is_local(module, base):
            continue
        for distribution in providers.get(module, ()):
            try:
                version = importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                continue
            pins[distribution.lower()] = f"{distribution}=={version}"
    pins.pop("caliban-jupyter", None)
    pins.pop("caliban_jupyter", None)
    return tuple(pins[key] for key in sorted(pins))

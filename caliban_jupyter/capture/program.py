"""Capture the notebook code a ``%%caliban_cloud`` cell needs as one runnable program (pure).

A researcher defines data loading and ``train()`` in earlier cells and submits one cell
that calls it. :func:`capture` turns that cell body plus the kernel's executed history
(``In`` or the history manager's input cells) into the source of ``caliban_main.py``
(laid out by :mod:`caliban_jupyter.capture.render`: the captured statements in
execution order, each experiment parameter replacing the notebook's own definition of it,
then the cell body), and :func:`pinned_requirements` says which installed distributions
its imports come from.

Modes
-----
``"deps"`` (default)
    Only the top-level statements the body needs, transitively (see
    :mod:`caliban_jupyter.capture.deps` for the rules and their limits). Given the
    kernel's namespace (``values``), the names the body reads ship as the kernel holds
    them instead (:mod:`caliban_jupyter.capture.values`) and only what cannot ship is
    replayed; the global random state ships in both modes.
``"all"``
    Every statement of every executed cell, in order; no need is checked.

In both modes cells that do not parse are skipped. ``!cmd``, ``%pip`` lines and ``%%bash``
/ ``%%sh`` cells run as shell commands in the job (see
:mod:`caliban_jupyter.capture.shell`): those of the body always, those of earlier
cells in mode ``"all"``. Other magics are dropped. What the job will not run (a dropped
magic, an earlier cell's shell line, a call whose effects capture cannot see) is listed in
:attr:`CapturedProgram.notes`, one line each, for the front end to show.
"""

from __future__ import annotations

import ast
import importlib.metadata
import keyword
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager

from caliban_jupyter.capture.deps import (
    derived_names,
    link_global_writes,
    slice_statements,
    where,
)
from caliban_jupyter.capture.distributions import providers
from caliban_jupyter.capture.local import local_path
from caliban_jupyter.capture.render import render_program
from caliban_jupyter.capture.scan import Statement, leading_blank_lines, scan_cell
from caliban_jupyter.capture.values import Shipment, Shipper
from caliban_jupyter.errors import CaptureError

__all__ = ["MODES", "CapturedProgram", "assigned_names", "capture", "pinned_requirements"]

MODES = ("deps", "all")

# Magics about submitting, not part of the job's work: dropped without a note.
_CALIBAN_MAGICS = ("%load_ext caliban_jupyter", "%config caliban", "%caliban_", "%%caliban_")


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
    notes
        One line per thing the job will not do that the kernel did: a dropped magic, a
        shell line of an earlier cell, a statement whose effects capture cannot see.
    shipped
        The names whose kernel values the program carries (loaded right before the cell).
    replayed
        How many statements of earlier cells the program runs again.
    """

    source: str
    imports: tuple[str, ...]
    cells_used: tuple[int, ...]
    notes: tuple[str, ...] = ()
    shipped: tuple[str, ...] = ()
    replayed: int = 0


def _quote(statement: Statement, line: int, *, whole: bool = True) -> str:
    """The line as typed, with ``...`` when the statement goes on (``whole``)."""
    text = statement.raw_line(line)
    node = statement.node
    more = whole and node is not None and (node.end_lineno or line) > line
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"`{text}{' ...' if more else ''}`"


def _notes(history: Sequence[Statement], body: Sequence[Statement], taken: set[int] | None,
           slice_notes: dict[int, str]) -> tuple[str, ...]:
    """What the job will not run, one line each, in the notebook's order.

    ``taken`` is ``None`` in mode "all" (every executed statement is taken).
    """
    cells = {s.cell for s in history if taken is None or s.position in taken}
    notes: list[str] = []
    for statement in [*history, *body]:
        line = statement.node.lineno if statement.node is not None else 1
        place, text = where(statement, line), _quote(statement, line)
        if text.lower().startswith(tuple(f"`{m}" for m in _CALIBAN_MAGICS)):
            continue
        considered = statement.cell is None or statement.cell in cells
        if statement.magic and considered:
            what = ("cell magics other than %%bash and %%sh" if statement.node is None
                    else "magics other than %pip, and shell output kept in a variable,")
            notes.append(f"{place}: {text} is not run in the job ({what} do not run in a job)")
        for nested in statement.dropped if considered else ():
            quoted = _quote(statement, nested, whole=False)
            notes.append(f"{where(statement, nested)}: {quoted} is not run in the job (magics "
                         "other than %pip do not run in a job)")
        if taken is None or statement.position in taken or statement.cell is None:
            continue
        if statement.shell:
            notes.append(f"{place}: {text} is not run in the job (shell lines of earlier cells "
                         "run only with --capture all; or move it into this cell)")
        elif statement.position in slice_notes:
            notes.append(f"{place}: {text} was left out: {slice_notes[statement.position]}")
        elif statement.unsure and not statement.magic:
            notes.append(f"{place}: {text} was left out ({statement.unsure}); if the job "
                         "needs it, use --capture all")
    return tuple(notes)


#: Reasons not to ship that need no note: such names are always replayed.
_EXPECTED = ("it is a module", "it is a definition of the notebook",
             "it is computed from an experiment parameter",
             "it is a matplotlib object: replayed with pyplot's state")


def _replay_notes(why_not: dict[str, str]) -> tuple[str, ...]:
    """One line per name the cell reads that is recomputed rather than shipped, and why."""
    return tuple(f"{name} is recomputed by replaying earlier cells, not shipped: {reason}"
                 for name, reason in sorted(why_not.items()) if reason not in _EXPECTED)


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


def capture(
    body: str,
    history: Sequence[str],
    *,
    mode: str = "deps",
    parameters: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
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
        Experiment parameter names. The program reads them from its own command line
        (``--lr 0.1``; a bare ``--flag`` is True; values are Python literals or else
        strings) and each replaces the notebook's value right after every plain
        definition of it (papermill's rule), or right before the body when no captured
        statement defines it. A run that does not pass one keeps the notebook's value.
    values
        The kernel's namespace (``user_ns``). Given, the names the cell reads from it are
        shipped as they are now where they can be (see
        :mod:`caliban_jupyter.capture.values`), and the job's global random state starts
        where the kernel's is; without it (an export, a notebook file) everything the cell
        needs is replayed.

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
    link_global_writes(everything)
    taken: set[int] | None = None
    slice_notes: dict[int, str] = {}
    shipment: Shipment | None = None
    if values is not None:
        derived, seeded = derived_names(statements, names)
        shipper = Shipper(values, derived)
    if mode == "deps":
        cut = slice_statements(everything, [marker, *scanned_body], frozenset(names),
                               shipper if values is not None else None, marker.position)
        taken, slice_notes = cut.taken, cut.notes
        kept = [s for s in statements if s.position in taken or s.future]
    else:
        kept = [s for s in statements if not s.magic]
    if values is not None:
        shipment = shipper.pack(cut.shipped if mode == "deps" else (), seeded)
    code = [s for s in kept if s.node is not None and not s.magic]
    used_body = [s for s in scanned_body if not s.magic and s.node is not None]
    body_text = TransformerManager().transform_cell(body)
    imports = _imports(s.node for s in [*code, *used_body] if s.node is not None)
    if shipment is not None:  # the modules the shipped objects come from are needed too
        imports = tuple(sorted({*imports, *shipment.modules}))
    return CapturedProgram(
        source=render_program(code, names, scanned_body, body_text, shipment),
        imports=imports,
        cells_used=tuple(sorted({s.cell for s in code if s.cell is not None})),
        notes=(*_notes(statements, scanned_body, taken, slice_notes),
               *(_replay_notes(cut.why_not) if values is not None and mode == "deps" else ())),
        shipped=tuple(shipment.names) if shipment is not None else (),
        replayed=len(code),
    )


def assigned_names(cell: str) -> tuple[str, ...]:
    """The names a cell assigns at top level (``lr = 0.1``, ``n: int = 3``), in order.

    These are the parameters of a cell tagged ``parameters`` (papermill's convention): a
    job may override each. A cell that does not parse has none.
    """
    names: dict[str, None] = {}
    for statement in scan_cell(cell, None, 0) or []:
        node = statement.node
        if statement.magic or not isinstance(node, (ast.Assign, ast.AnnAssign)):
            continue
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    names.setdefault(name.id)
    return tuple(names)


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
    base = Path(cwd)
    pins: dict[str, str] = {}
    for module in {name.split(".")[0] for name in imports}:
        if module in sys.stdlib_module_names or module == "caliban_jupyter":
            continue
        if local_path(module, base) is not None:
            continue
        for distribution in providers().get(module, ()):
            try:
                version = importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                continue
            pins[distribution.lower()] = f"{distribution}=={version}"
    pins.pop("caliban-jupyter", None)
    pins.pop("caliban_jupyter", None)
    return tuple(pins[key] for key in sorted(pins))

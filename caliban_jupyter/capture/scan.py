"""Turn executed notebook cells into analysed top-level statements (pure).

Each cell is converted to Python by IPython's own ``TransformerManager`` (so ``%magic``,
``!shell`` and ``x?`` lines become ``get_ipython()`` calls exactly as the kernel ran them),
parsed, and split into top-level :class:`Statement` records that say which module-level
names each statement binds, reads, and mutates. :mod:`capture_deps` slices these records.

Decisions
---------
- Shell lines the job can run (``!cmd``, ``%pip``, ``%%bash``/``%%sh`` cells) become calls of
  the program's helpers wherever they are (see :mod:`capture_shell`); such a top-level
  statement is a *shell* statement.
- A cell that is another cell magic (``%%time``, ``%%caliban_cloud``, ...) is skipped
  entirely; the names its body would bind (when the body is Python) are recorded as
  *magic-defined* so a later need for them gets a precise error rather than "not defined".
- Another top-level statement that calls a magic or the shell (``%matplotlib``,
  ``x = !ls``) is dropped and its names are magic-defined; for a line magic whose argument
  is Python (``%time y = 1``) the argument's names count too.
- Inside a ``def``/``class``/block, a statement that is *only* such a magic call is removed
  (``pass`` keeps the block valid; its line is in ``Statement.dropped``); any other nested
  use of a magic result makes the whole top-level statement magic-defined, because the job
  could not compute it.
- Names read inside function and lambda bodies are *deferred*: they are looked up when the
  function runs, not when it is defined. Scopes there are analysed with :mod:`symtable`, the
  compiler's own scoping, so comprehension targets, ``nonlocal`` and ``global`` are exact.
"""

from __future__ import annotations

import ast
import copy
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

from caliban_jupyter.capture.names import ModuleScan
from caliban_jupyter.capture.shell import awaits_at_top_level, expansion_names, runnable

#: Methods of the object returned by ``get_ipython()`` that run magics or the shell.
MAGIC_METHODS = frozenset({"run_line_magic", "run_cell_magic", "system", "getoutput"})

_BLOCK_FIELDS = ("body", "orelse", "finalbody")


@dataclass
class Statement:
    """One top-level statement of a cell, with what it binds and needs at module level.

    ``uses`` are read when the statement runs; ``deferred`` are globals read by function
    bodies it defines (resolved where the function is needed); ``soft`` uses (annotations)
    are captured when defined but never reported as missing. Values are line numbers.
    ``acts_on`` are the objects its calls may change (``random`` for ``random.seed(1)``),
    ``receivers`` the objects whose methods it calls (changed unless they are modules),
    ``calls`` the functions it calls anywhere (``effect_calls``: as statements), ``unsure``
    why its effects are unknown.
    ``raw`` holds the cell's lines as typed and ``span`` the statement's first and last line
    in the transformed cell, so notes can quote what the user wrote.
    """

    position: int
    cell: int | None
    source: str
    node: ast.stmt | None = None
    line_offset: int = 0
    magic: bool = False
    future: bool = False
    definite: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    star: bool = False
    imported: set[str] = field(default_factory=set)
    packages: dict[str, str] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    soft: dict[str, int] = field(default_factory=dict)
    mutates: set[str] = field(default_factory=set)
    acts_on: set[str] = field(default_factory=set)
    receivers: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    effect_calls: set[str] = field(default_factory=set)
    unsure: str | None = None
    global_writes: set[str] = field(default_factory=set)
    deferred_changes: set[str] = field(default_factory=set)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    shell: bool = False
    awaits: bool = False
    dropped: list[int] = field(default_factory=list)
    raw: Sequence[str] = ()
    span: tuple[int, int] = (1, 1)

    def binds(self, name: str) -> bool:
        """Whether running this statement may bind ``name`` at module level."""
        return self.star or name in self.definite or name in self.maybe

    def raw_line(self, line: int) -> str:
        """Line ``line`` of the transformed cell, as the user typed it."""
        index = line + self.line_offset - 1
        return self.raw[index].strip() if 0 <= index < len(self.raw) else ""


def _magic_call(node: ast.AST) -> ast.Call | None:
    """The ``get_ipython().<magic>(...)`` call that ``node`` is, or ``None``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MAGIC_METHODS
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        return node
    return None


def _pure_magic(stmt: ast.stmt) -> ast.Call | None:
    return _magic_call(stmt.value) if isinstance(stmt, ast.Expr) else None


def is_cell_magic(module: ast.Module) -> bool:
    """Whether a transformed cell is a ``%%magic`` cell (IPython makes it one call)."""
    return any(
        (call := _pure_magic(stmt)) is not None
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "run_cell_magic"
        for stmt in module.body
    )


def _magic_bound_names(call: ast.Call) -> set[str]:
    """Names a magic would bind if its Python argument ran (``%time y = 1`` binds ``y``)."""
    assert isinstance(call.func, ast.Attribute)
    index = 2 if call.func.attr == "run_cell_magic" else 1
    if call.func.attr not in {"run_line_magic", "run_cell_magic"} or len(call.args) <= index:
        return set()
    arg = call.args[index]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return set()
    try:
        module = ast.parse(arg.value)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for stmt in module.body:
        scan = ModuleScan()
        scan.visit(stmt)
        names |= scan.definite | scan.maybe
    return names


class _Rewriter(ast.NodeTransformer):
    """Replace the IPython calls a job can run with the program's helpers."""

    def __init__(self) -> None:
        self.replaced: list[tuple[ast.Call, ast.Call]] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        new = runnable(node) if _magic_call(node) is not None else None
        if new is None:
            return node
        self.replaced.append((node, new))
        return new


def clean_magic(stmt: ast.stmt) -> tuple[ast.stmt, list[tuple[ast.Call, ast.Call]], list[int],
                                          bool]:
    """Make ``stmt`` runnable without IPython, as far as it can be.

    Returns the statement (a new tree when something changed), the calls replaced by
    helpers (original, new), the lines of magic-only statements removed from blocks, and
    whether any other magic call is left in it, which makes the statement uncapturable.
    """
    removed: list[int] = []

    def clean(body: list[ast.stmt]) -> list[ast.stmt]:
        kept = []
        for child in body:
            if _pure_magic(child) is not None:
                removed.append(child.lineno)
                continue
            for name in _BLOCK_FIELDS:
                if isinstance(getattr(child, name, None), list):
                    setattr(child, name, clean(getattr(child, name)))
            for handler in getattr(child, "handlers", []):
                handler.body = clean(handler.body)
            for case in getattr(child, "cases", []):
                case.body = clean(case.body)
            kept.append(child)
        return kept or [ast.Pass()]

    if not any(_magic_call(node) is not None for node in ast.walk(stmt)):
        return stmt, [], [], False
    rewriter = _Rewriter()
    tree = rewriter.visit(copy.deepcopy(stmt))  # the caller's tree stays intact
    cleaned = clean([tree])[0]
    left = any(_magic_call(node) is not None for node in ast.walk(cleaned))
    if not rewriter.replaced and not removed:
        return stmt, [], [], left
    return ast.fix_missing_locations(cleaned), rewriter.replaced, removed, left


def _replace_calls(source: str, first_line: int,
                   replaced: list[tuple[ast.Call, ast.Call]]) -> str | None:
    """``source`` (lines from ``first_line`` on) with each replaced call's text swapped for
    its helper, keeping comments; ``None`` when a call spans lines."""
    lines = source.split("\n")
    for old, new in sorted(replaced, key=lambda p: (p[0].lineno, p[0].col_offset),
                           reverse=True):
        if old.end_lineno != old.lineno or old.end_col_offset is None:
            return None
        index = old.lineno - first_line
        data = lines[index].encode()  # AST columns count UTF-8 bytes
        lines[index] = (data[:old.col_offset].decode() + ast.unparse(new)
                        + data[old.end_col_offset:].decode())
    return "\n".join(lines)


def _segments(module: ast.Module, text: str
              ) -> Iterator[tuple[ast.stmt, str, tuple[int, int]]]:
    """Each top-level statement with its own source lines (comments inside kept).

    Statements sharing a line (``a = 1; b = 2``) are unparsed separately instead.
    """
    lines = text.splitlines()
    spans = [
        (
            min([s.lineno, *(d.lineno for d in getattr(s, "decorator_list", []))]),
            s.end_lineno or s.lineno,
        )
        for s in module.body
    ]
    for index, (stmt, (start, end)) in enumerate(zip(module.body, spans, strict=True)):
        shared = (index > 0 and spans[index - 1][1] >= start) or (
            index + 1 < len(spans) and spans[index + 1][0] <= end
        )
        source = ast.unparse(stmt) if shared else "\n".join(lines[start - 1 : end])
        yield stmt, source, (start, end)


def leading_blank_lines(text: str) -> int:
    """How many lines IPython's transformer drops from the top (line numbers shift by it)."""
    lines = text.splitlines()
    count = 0
    while count < len(lines) and not lines[count].strip():
        count += 1
    return count


def scan_cell(text: str, cell: int | None, first_position: int) -> list[Statement] | None:
    """Analyse one raw cell; ``None`` if it does not parse (the kernel never ran it)."""
    try:
        python = TransformerManager().transform_cell(text)
        module = ast.parse(python)
    except (SyntaxError, ValueError, tokenize.TokenError):
        return None
    offset = leading_blank_lines(text)
    raw = text.splitlines()
    if is_cell_magic(module):
        calls = [c for c in map(_pure_magic, module.body) if c is not None]
        script = runnable(calls[0]) if len(calls) == 1 else None
        if script is not None:  # %%bash: the job runs it
            node = ast.fix_missing_locations(ast.Expr(script))
            return [Statement(first_position, cell, ast.unparse(node), node=node,
                              line_offset=offset, shell=True, raw=raw)]
        names = set().union(*map(_magic_bound_names, calls))
        return [Statement(first_position, cell, "", line_offset=offset, magic=True,
                          definite=names, raw=raw)]
    out: list[Statement] = []
    for stmt, source, span in _segments(module, python):
        record = Statement(first_position + len(out), cell, source, node=stmt,
                           line_offset=offset, raw=raw, span=span)
        out.append(record)
        magic = _pure_magic(stmt)
        if magic is not None and runnable(magic) is None:
            record.magic, record.definite = True, _magic_bound_names(magic)
            continue
        record.shell = magic is not None
        cleaned, replaced, removed, left = clean_magic(stmt)
        if cleaned is not stmt:
            kept = None if removed else _replace_calls(source, span[0], replaced)
            record.node, record.source = cleaned, kept or ast.unparse(cleaned)
            record.dropped = removed
        scan = ModuleScan()
        scan.visit(cleaned)
        record.definite, record.maybe = scan.definite, scan.maybe - scan.definite
        record.magic = left
        if left:
            continue
        record.future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        record.awaits = awaits_at_top_level(cleaned)
        record.star, record.imported = scan.star, scan.imported
        record.packages = scan.packages
        record.uses, record.deferred, record.soft = scan.uses, scan.deferred, scan.soft
        for _, new in replaced:  # `!echo {x}` reads x when it runs
            for name, line in expansion_names(new).items():
                record.soft.setdefault(name, line)
        record.mutates, record.acts_on = scan.mutates, scan.acts_on
        record.calls, record.unsure = scan.calls, scan.unsure
        record.receivers, record.effect_calls = scan.receivers, scan.effect_calls
        record.global_writes = scan.global_writes
        record.deferred_changes = scan.deferred_changes
        record.aliases = scan.aliases
    return out

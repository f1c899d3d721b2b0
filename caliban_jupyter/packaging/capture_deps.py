"""Which executed statements a cell needs: a backward slice over top-level statements (pure).

Decisions
---------
- A need for name ``n`` at position ``p`` takes the latest statement before ``p`` that binds
  ``n``; when that binding is only conditional (inside ``if``/``for``/``except``...) or a
  star import, earlier bindings are taken too, back to the first unconditional one.
- Statements after that definition which change the object in place (``cfg["lr"] = 0.1``,
  ``cfg.x = 1``, ``del cfg["a"]``, ``items.append(3)``) are taken as well. Method calls on a
  *module* (``np.save(...)``) are not, so plotting and saving cells stay out of the job.
- A statement's own reads are resolved where it runs; the globals read inside a function
  body are resolved where the function is needed (a later call or the cell), so a helper
  defined after the function that calls it is found, and the latest value wins.
- Calling a function that assigns a ``global`` counts as (maybe) binding that global.
- A need whose latest binding is a magic or shell line is an error: the job cannot rerun it.
- Known limitation: effects hidden in calls (a decorator that fills a registry) are not
  seen; ``--capture all`` sends every executed cell for such notebooks.
"""

from __future__ import annotations

import ast
import builtins
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence

from caliban_jupyter.errors import CaptureError
from caliban_jupyter.packaging.capture_scan import Statement

#: Names IPython puts in the kernel that a plain ``python3`` job does not have.
IPYTHON_ONLY = frozenset(
    {
        "get_ipython",
        "display",
        "In",
        "Out",
        "_ih",
        "_oh",
        "_dh",
        "_",
        "__",
        "___",
        "__IPYTHON__",
        "_i",
        "_ii",
        "_iii",
        "exit",
        "quit",
    }
)
#: Builtins of a plain interpreter; IPython injects ``display`` etc. into the kernel's.
BUILTIN_NAMES = (frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__"}) - (
    IPYTHON_ONLY - {"exit", "quit"}
)


def link_global_writes(statements: Iterable[Statement]) -> None:
    """Mark statements that call a function assigning a ``global`` as binding it."""
    writers: dict[str, set[str]] = {}
    for statement in statements:
        for name in statement.uses:
            statement.maybe |= writers.get(name, set()) - statement.definite
        for name in statement.definite | statement.maybe:
            writers.pop(name, None)
        node = statement.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.global_writes:
            writers[node.name] = statement.global_writes


def where(statement: Statement, line: int) -> str:
    """A place a person can find: the cell being submitted, or ``In[k]`` of the history."""
    line += statement.line_offset
    if statement.cell is None:
        # The magic line is line 1 of the cell; the body the magic receives starts at 2.
        return f"line {line + 1} of this cell"
    return f"In[{statement.cell}] line {line}"


class _Slicer:
    def __init__(self, statements: Sequence[Statement], parameters: frozenset[str]) -> None:
        self.statements = statements
        self.parameters = parameters
        self.taken: set[int] = set()
        self.missing: dict[str, list[str]] = {}
        self.magic: dict[str, tuple[Statement, list[str]]] = {}
        self._seen: set[tuple[str, int] | tuple[int, int]] = set()
        self._work: list[tuple[Statement, int]] = []
        # Positions per name, so a need looks only at the statements that touch it.
        self._binders: dict[str, list[int]] = defaultdict(list)
        self._changers: dict[str, list[int]] = defaultdict(list)
        self._stars: list[int] = []
        for statement in statements:
            for name in statement.definite | statement.maybe:
                self._binders[name].append(statement.position)
            for name in statement.mutates | statement.call_mutates:
                self._changers[name].append(statement.position)
            if statement.star:
                self._stars.append(statement.position)

    def _before(self, positions: list[int], at: int, start: int = 0) -> list[int]:
        return positions[bisect_left(positions, start) : bisect_left(positions, at)]

    def run(self, roots: Iterable[Statement], end: int) -> set[int]:
        self._work = [(root, end) for root in roots]
        while self._work:
            statement, at = self._work.pop()
            self._take(statement, at)
        return self.taken

    def _take(self, statement: Statement, at: int) -> None:
        """Take ``statement``; a function it defines is needed at position ``at``."""
        if (statement.position, at) in self._seen:
            return
        self._seen.add((statement.position, at))
        self.taken.add(statement.position)
        for name, line in statement.uses.items():
            self._need(name, statement.position, statement, line, soft=False)
        for name, line in statement.soft.items():
            self._need(name, statement.position, statement, line, soft=True)
        for name, line in statement.deferred.items():
            self._need(name, at, statement, line, soft=False)

    def _need(self, name: str, at: int, user: Statement, line: int, *, soft: bool) -> None:
        place = where(user, line)
        if name in self.missing:
            self.missing[name].append(place)
        if name in self.magic:
            self.magic[name][1].append(place)
        if (name, at) in self._seen:
            return
        self._seen.add((name, at))
        definer: Statement | None = None
        found = False
        candidates = {
            *self._before(self._binders.get(name, []), at),
            *self._before(self._stars, at),
        }
        for position in sorted(candidates, reverse=True):
            statement = self.statements[position]
            if statement.magic:
                if not found:  # the value the kernel holds came from the magic
                    self.magic[name] = (statement, [place])
                    return
                definer = statement  # only a conditional rebinding follows the magic
                break
            found = True
            self._work.append((statement, at))
            if name in statement.definite:
                definer = statement
                break
        if found:
            self._take_mutations(name, at, definer)
        elif not (soft or name in BUILTIN_NAMES or name in self.parameters):
            self.missing[name] = [place]

    def _take_mutations(self, name: str, at: int, definer: Statement | None) -> None:
        start = definer.position + 1 if definer else 0
        module = definer is not None and name in definer.imported
        for position in self._before(self._changers.get(name, []), at, start):
            statement = self.statements[position]
            if statement.magic:
                continue
            if name in statement.mutates or (name in statement.call_mutates and not module):
                self._work.append((statement, at))


def _line(statement: Statement) -> int:
    return statement.node.lineno if statement.node is not None else 1


def _bullets(lines: Iterable[str]) -> str:
    return "".join(f"\n  - {line}" for line in lines)


def _places(places: list[str]) -> str:
    unique = list(dict.fromkeys(places))
    return ", ".join(unique[:3]) + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")


def slice_statements(
    statements: Sequence[Statement],
    roots: Iterable[Statement],
    parameters: frozenset[str] = frozenset(),
) -> set[int]:
    """Positions of the statements ``roots`` need, transitively; roots included.

    Raises
    ------
    CaptureError
        When a needed name is bound by nothing executed, or only by a magic/shell line.
    """
    slicer = _Slicer(statements, parameters)
    taken = slicer.run(roots, len(statements))
    written = set().union(*(statements[p].global_writes for p in taken))
    missing = {n: p for n, p in slicer.missing.items() if n not in written}
    problems = []
    if missing:
        lines = []
        for name, places in sorted(missing.items()):
            hint = (
                ": it exists only inside IPython, not in a `python3` job"
                if name in IPYTHON_ONLY
                else ""
            )
            lines.append(f"{name} (used at {_places(places)}){hint}")
        problems.append(
            "these names are not defined by any cell run before this one:"
            + _bullets(lines)
            + "\nRun the cells that define them first, or use `--capture all` to send every "
            "executed cell."
        )
    if slicer.magic:
        lines = [
            f"{name} (set by a magic or shell command at {where(setter, _line(setter))}, "
            f"used at {_places(places)})"
            for name, (setter, places) in sorted(slicer.magic.items())
        ]
        problems.append(
            "these names are set only by a magic or shell command (%..., !...), and the "
            "results of magics and shell commands are not captured:"
            + _bullets(lines)
            + "\nDefine them in plain Python (e.g. with subprocess or os.listdir) in a cell "
            "run before this one."
        )
    if problems:
        raise CaptureError(
            "Cannot capture the notebook code this cell needs: " + "\n".join(problems)
        )
    return taken

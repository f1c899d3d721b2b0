"""Which executed statements a cell needs: a backward slice over top-level statements (pure).

Decisions
---------
- A need for name ``n`` at position ``p`` takes the latest statement before ``p`` that binds
  ``n``; when that binding is only conditional (inside ``if``/``for``/``except``...) or a
  star import, earlier bindings are taken too, back to the first unconditional one.
- Statements after that definition which change the object in place are taken as well:
  ``cfg["lr"] = 0.1``, ``cfg.x = 1``, ``del cfg["a"]``, ``X += 1``, a method call on it
  anywhere in a statement (``items.append(3)``, ``noise = rng.normal()``,
  ``y = reg.fit(X, y).predict(Z)``), passing it to a callee known to change its argument
  (``random.shuffle(deck)``, a function of the notebook, one imported); passing it to a
  method is not a change (``meta.fit(X, y)`` does not change ``X``).
- A module's state is shared by every import of it: when an import is taken, so is every
  statement before the need that acts on a name bound to the same top-level package
  (``random.seed(42)``, ``os.environ["X"] = "on"``, ``warnings.filterwarnings(...)``,
  ``np.random.seed(0)`` for ``import numpy``), in its order. Such a statement that cannot
  be captured itself (it uses a name nothing or only a magic defines) is left out with a
  note rather than failing the capture: the kernel did not complete it either, or it is
  incidental (a plot of shell output). ``x = np.zeros(3)`` does not act on numpy.
- A call of a function defined in the notebook changes the globals its body changes in
  place, wherever it is called (so ``init()`` that fills ``registry`` is taken with
  ``registry``); called as a statement it may also act on a module. A call of any other
  function as a statement, ``exec``, ``globals()`` and the like, when not taken, make the
  capture unsure whether the job needs them: it says so in a note naming the statement
  and ``--capture all``.
- With a :class:`~caliban_jupyter.capture.values.Shipper`, a name the cell itself reads
  (or a function it calls reads when the cell runs) ships as the kernel holds it, and
  nothing that computed it is replayed; a name it cannot ship is replayed as above (a note
  says why), and one that neither ships nor replays is an error naming both reasons.
- A statement's own reads are resolved where it runs; the globals read inside a function
  body are resolved where the function is needed (a later call or the cell), so a helper
  defined after the function that calls it is found, and the latest value wins.
- Calling a function that assigns a ``global`` counts as (maybe) binding that global.
- A need whose latest binding is a magic or shell line is an error unless its value ships:
  the job cannot rerun it.
- An object bound to a value that may hold another's (``b = a``, ``b = a.part``,
  ``[a, c]``, ``pipe = Pipeline([("s", scaler)])``: what a call is passed) holds it: the
  changes of ``pipe`` after that are changes of ``scaler``.
- Known limitations: effects hidden in decorators (one that fills a registry) and objects
  a method returns that hold the receiver (``b = a.view()``) are not seen when replaying;
  the shipped values have them. ``--capture all`` sends every executed cell.
"""

from __future__ import annotations

import ast
import builtins
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from caliban_jupyter.capture.scan import Statement
from caliban_jupyter.capture.shell import HELPER_NAMES
from caliban_jupyter.capture.values import Shipper
from caliban_jupyter.errors import CaptureError

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
BUILTIN_NAMES = (
    frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__"} | HELPER_NAMES
) - (IPYTHON_ONLY - {"exit", "quit"})


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def link_global_writes(statements: Iterable[Statement]) -> None:
    """Mark statements that call a function assigning a ``global`` as binding it, and
    statements calling a function as acting on what the function's body reads."""
    writers: dict[str, set[str]] = {}
    binders: dict[str, Statement] = {}
    for statement in statements:
        for name in statement.uses:
            statement.maybe |= writers.get(name, set()) - statement.definite
        for name in statement.calls:
            _link_call(statement, name, binders)
        for name in statement.definite | statement.maybe:
            writers.pop(name, None)
            binders[name] = statement
        node = statement.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.global_writes:
            writers[node.name] = statement.global_writes


def _link_call(statement: Statement, name: str, binders: dict[str, Statement]) -> None:
    """What calling ``name`` may change, as far as the notebook shows it.

    A notebook function changes the globals its body reads, wherever it is called. Other
    callees change their arguments (already among ``acts_on``); called as a statement, an
    imported one also acts on its package, and what they do is unsure.
    """
    effect = name in statement.effect_calls
    binder = binders.get(name)
    if binder is None or binder.magic:
        if effect and name not in BUILTIN_NAMES:  # builtins act on their arguments only
            statement.unsure = statement.unsure or f"what `{name}()` changes is unknown"
        return
    if binder.node is not None and name in binder.imported:
        if effect:
            statement.acts_on.add(name)  # on its package, as a method of it would
            statement.unsure = statement.unsure or f"what `{name}()` changes is unknown"
        return
    if not isinstance(binder.node, _DEFINITIONS) and not binder.deferred:
        # Bound by an assignment (`f = functools.partial(g)`): what it does is not shown.
        if effect:
            statement.unsure = statement.unsure or f"what `{name}()` changes is unknown"
        return
    # A function of the notebook: it may change the globals its body (or a function it
    # calls) changes in place.
    seen: set[int] = set()
    work = [binder]
    while work:
        definer = work.pop()
        if definer.position in seen:
            continue
        seen.add(definer.position)
        # Called as a statement it may act on a module (`reseed()`); inside an expression
        # only objects count, as for method calls (`x = norm(v)` does not change math).
        (statement.acts_on if effect else statement.receivers).update(
            definer.deferred_changes)
        for read in definer.deferred:
            if (inner := binders.get(read)) is not None and inner.deferred:
                work.append(inner)


def where(statement: Statement, line: int) -> str:
    """A place a person can find: the cell being submitted, or ``In[k]`` of the history."""
    line += statement.line_offset
    if statement.cell is None:
        # The magic line is line 1 of the cell; the body the magic receives starts at 2.
        return f"line {line + 1} of this cell"
    return f"In[{statement.cell}] line {line}"


def derived_names(statements: Iterable[Statement], parameters: Iterable[str]
                  ) -> tuple[frozenset[str], frozenset[str]]:
    """The names computed from experiment parameters (the parameters included), which each
    job must recompute from its own values, and the packages whose state a statement
    reading them sets (``random.seed(seed)``)."""
    derived = set(parameters)
    fixed = frozenset(derived)
    packages: set[str] = set()
    package_of: dict[str, str] = {}
    for statement in statements:
        reads = {*statement.uses, *statement.deferred, *statement.soft}
        if reads & derived:
            acted = statement.acts_on | statement.mutates | set(statement.calls)
            packages |= {package_of[n] for n in acted if n in package_of}
            changed = (statement.definite | statement.maybe | statement.mutates
                       | statement.acts_on | statement.receivers)
            derived |= changed - set(package_of)
        else:
            derived -= statement.definite - fixed
        for name in statement.definite | statement.maybe:
            package_of.pop(name, None)
        package_of.update(statement.packages)
    return frozenset(derived), frozenset(packages)


class _Slicer:
    def __init__(self, statements: Sequence[Statement], parameters: frozenset[str],
                 shipper: Shipper | None = None, cell_start: int | None = None) -> None:
        self.statements = statements
        self.parameters = parameters
        self.shipper = shipper
        # Needs at or after this position are the cell's: the kernel's value may ship.
        self.cell_start = len(statements) if cell_start is None else cell_start
        self.shipped: list[str] = []
        self.why_not: dict[str, str] = {}
        self.taken: set[int] = set()
        self.missing: dict[str, list[str]] = {}
        self.magic: dict[str, tuple[Statement, list[str]]] = {}
        self._seen: set[tuple[str, int] | tuple[int, int]] = set()
        self._package_done: dict[str, int] = {}
        self._work: list[tuple[Statement, int]] = []
        # Positions per name, so a need looks only at the statements that touch it.
        self._binders: dict[str, list[int]] = defaultdict(list)
        self._changers: dict[str, list[int]] = defaultdict(list)
        self._package_changers: dict[str, list[int]] = defaultdict(list)
        self._stars: list[int] = []
        # Objects that may hold another's (`pipe = Pipeline([("s", scaler)])`), by the
        # variable they hold: changing `pipe` (`pipe.fit(X)`) may change `scaler`.
        self._holders: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.notes: dict[int, str] = {}  # effects left out, by position
        package_of: dict[str, str] = {}  # names bound by an import, to the package
        for statement in statements:
            for name in statement.mutates | statement.acts_on:
                self._changers[name].append(statement.position)
                if name in package_of:
                    self._package_changers[package_of[name]].append(statement.position)
            for name in statement.receivers - statement.mutates - statement.acts_on:
                if name not in package_of:  # `x = np.zeros(3)` does not change numpy
                    self._changers[name].append(statement.position)
            for name in statement.definite | statement.maybe:
                self._binders[name].append(statement.position)
                package_of.pop(name, None)
            package_of.update(statement.packages)
            if statement.star:
                self._stars.append(statement.position)
            for target, sources in statement.aliases.items():
                for source in sources:
                    self._holders[source].append((statement.position, target))

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
        for package in set(statement.packages.values()):
            # Every import of a package needs the same statements: take each only once.
            done = self._package_done.get(package, 0)
            self._package_done[package] = max(done, at)
            for position in self._before(self._package_changers.get(package, []), at, done):
                self._take_effect(self.statements[position], at)

    def _take_effect(self, statement: Statement, at: int) -> None:
        """Take a statement acting on a module, unless it could not run in the job."""
        if statement.magic or statement.position in self.notes:
            return
        for name in statement.uses:
            problem = self._unavailable(name, statement.position)
            if problem:
                self.notes[statement.position] = f"it uses {name}, {problem}"
                return
        self._work.append((statement, at))

    def _unavailable(self, name: str, at: int) -> str | None:
        """Why ``name`` has no value the job can compute at ``at`` (``None``: it has)."""
        if name in BUILTIN_NAMES or name in self.parameters:
            return None
        binders = [*self._before(self._binders.get(name, []), at), *self._before(self._stars, at)]
        if not binders:
            return "which no cell run before it defines"
        if self.statements[max(binders)].magic:
            return "which only a magic or shell command sets"
        return None

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
        shippable = (self.shipper is not None and at > self.cell_start and not soft
                     and name not in self.parameters)
        if shippable and not candidates and name in BUILTIN_NAMES:
            return
        for position in sorted(candidates, reverse=True):
            statement = self.statements[position]
            if shippable and position < self.cell_start:
                # The kernel's value, as the cell would read it: exact, and no replay.
                if self._ship(name, user, line):
                    return
                shippable = False
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
            if shippable and self._ship(name, user, line):
                return  # defined where the history does not show (a deleted cell)
            self.missing[name] = [place]

    def _ship(self, name: str, user: Statement, line: int) -> bool:
        """Ship the kernel's value of ``name``; the definitions its pickle names are needed."""
        assert self.shipper is not None
        reason = self.shipper.why_not(name)
        if reason is not None:
            self.why_not[name] = reason
            return False
        if name not in self.shipped:
            self.shipped.append(name)
            end = len(self.statements)
            for definition in sorted(self.shipper.definitions.get(name, ())):
                self._need(definition, end, user, line, soft=False)
        return True

    def _take_mutations(self, name: str, at: int, definer: Statement | None) -> None:
        if definer is not None and name in definer.imported:
            return  # a module: taking the import takes what acts on its package
        start = definer.position + 1 if definer else 0
        work, seen = [(name, start)], {(name, start)}
        while work:  # the name's changes, and those of what holds its object since
            held, since = work.pop()
            for position in self._before(self._changers.get(held, []), at, since):
                statement = self.statements[position]
                if not statement.magic:
                    self._work.append((statement, at))
            for position, holder in self._holders.get(held, ()):
                if since <= position < at and (holder, position + 1) not in seen:
                    seen.add((holder, position + 1))
                    work.append((holder, position + 1))


def _line(statement: Statement) -> int:
    return statement.node.lineno if statement.node is not None else 1


def _bullets(lines: Iterable[str]) -> str:
    return "".join(f"\n  - {line}" for line in lines)


def _places(places: list[str]) -> str:
    unique = list(dict.fromkeys(places))
    return ", ".join(unique[:3]) + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")


@dataclass
class Slice:
    """What a cell needs: statements to replay, values to ship, notes by position."""

    taken: set[int]
    notes: dict[int, str]
    shipped: list[str]
    why_not: dict[str, str]


def slice_statements(
    statements: Sequence[Statement],
    roots: Iterable[Statement],
    parameters: frozenset[str] = frozenset(),
    shipper: Shipper | None = None,
    cell_start: int | None = None,
) -> Slice:
    """Positions of the statements ``roots`` need, transitively; roots included.

    With a ``shipper``, a name the cell (from ``cell_start`` on) reads from the kernel is
    shipped when it can be, instead of replayed. Also returns, by position, why effects on
    needed modules were left out, and why a name was replayed rather than shipped.

    Raises
    ------
    CaptureError
        When a needed name is bound by nothing executed, or only by a magic/shell line.
    """
    slicer = _Slicer(statements, parameters, shipper, cell_start)
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
            lines.append(f"{name} (used at {_places(places)}){hint}{_unshipped(slicer, name)}")
        problems.append(
            "these names are not defined by any cell run before this one:"
            + _bullets(lines)
            + "\nRun the cells that define them first, or use `--capture all` to send every "
            "executed cell."
        )
    if slicer.magic:
        lines = [
            f"{name} (set by a magic or shell command at {where(setter, _line(setter))}, "
            f"used at {_places(places)}){_unshipped(slicer, name)}"
            for name, (setter, places) in sorted(slicer.magic.items())
        ]
        problems.append(
            "these names are set only by a magic or shell command (%..., !...), and the "
            "results of magics and shell commands are not captured:"
            + _bullets(lines)
            + "\nDefine them in plain Python (e.g. with subprocess or os.listdir) in a cell "
            "run before this one, or make their values picklable (the kernel's values ship "
            "when they pickle)."
        )
    if problems:
        raise CaptureError(
            "Cannot capture the notebook code this cell needs: " + "\n".join(problems)
        )
    return Slice(taken, slicer.notes, slicer.shipped, slicer.why_not)


def _unshipped(slicer: _Slicer, name: str) -> str:
    reason = slicer.why_not.get(name)
    return f"; its value cannot be shipped either: {reason}" if reason else ""

"""Which module-level names one top-level statement binds, reads and changes (pure).

Module-scope code is walked in evaluation order by :class:`ModuleScan`; the bodies of
functions and lambdas (run later, when called) are analysed with :mod:`symtable`, the
compiler's own scoping, so comprehension targets, ``nonlocal`` and ``global`` are exact.

Effects of calls, wherever they are in a statement (``noise = rng.normal()`` advances
``rng`` as much as ``rng.normal()`` does):

- a method call changes its *receiver*, the root of ``rng.normal`` or
  ``reg.fit(X, y).predict`` (``rng``, ``reg``), but not its arguments (``meta.fit(X, y)``
  does not change ``X``), unless the method is known to change them
  (:data:`MUTATING_METHODS`, a ``name_`` in-place method as in PyTorch, an ``out=``);
- a bare call ``f(...)`` records ``f`` (the slicer adds the globals a notebook ``f``'s body
  reads) and may change its arguments, except for builtins that change none
  (:data:`PURE_CALLS`);
- a method call made as a statement on a module (``random.seed(42)``) acts on the module's
  package, which the slicer takes with the package's import;
- a statement whose effects no name shows (``exec(...)``, ``globals()["x"] = 1``) is marked
  *unsure*.
"""

from __future__ import annotations

import ast
import symtable

#: Builtins (and IPython's ``display``) that change none of their arguments: a statement
#: calling them (``print(cfg)``) is there to show something, not for an effect.
PURE_CALLS = frozenset({
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "dict", "dir",
    "display", "divmod", "enumerate", "filter", "float", "format", "frozenset", "getattr",
    "hasattr", "hash", "help", "hex", "id", "int", "isinstance", "issubclass", "iter", "len",
    "list", "map", "max", "min", "oct", "ord", "pow", "print", "range", "repr", "reversed",
    "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
})
#: Calls that can change any variable: capture cannot say what such a statement does.
OPAQUE_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})
#: Functions and methods known to change their first argument in place (``random.shuffle
#: (deck)``, ``heapq.heappush(h, 1)``, ``np.copyto(a, b)``, ``setattr(obj, "x", 1)``).
MUTATING_METHODS = frozenset({
    "shuffle", "heappush", "heappop", "heapify", "heappushpop", "heapreplace", "insort",
    "insort_left", "insort_right", "copyto", "fill_diagonal", "put", "place", "putmask",
    "setattr", "delattr", "next",
})


def _root(node: ast.expr) -> str | None:
    """The variable an attribute/subscript chain starts from (``cfg`` in ``cfg["a"].b``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _variable(node: ast.expr) -> str | None:
    """The variable an argument names (``cfg``, ``cfg.opt``, ``cfg["a"]``), or ``None``."""
    if isinstance(node, ast.Starred):
        node = node.value
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _first_line(node: ast.AST, name: str) -> int:
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id == name:
            return child.lineno
    return getattr(node, "lineno", 1)


def function_globals(node: ast.AST) -> tuple[dict[str, int], set[str]]:
    """Globals read by the bodies of the function/lambda ``node``, and globals it assigns.

    Uses :mod:`symtable` on the node alone; decorators and defaults are in the module
    table there and are skipped, since the caller analyses them as immediate uses.
    """
    table = symtable.symtable(ast.unparse(node), "<capture>", "exec")
    reads: dict[str, int] = {}
    writes: set[str] = set()
    stack = list(table.get_children())
    while stack:
        scope = stack.pop()
        stack.extend(scope.get_children())
        for symbol in scope.get_symbols():
            if not symbol.is_global():
                continue
            name = symbol.get_name()
            if name == "__class__":  # a method's implicit cell (super()), not a global
                continue
            if symbol.is_referenced():
                reads.setdefault(name, _first_line(node, name))
            if symbol.is_declared_global() and symbol.is_assigned():
                writes.add(name)
    return reads, writes


def _alias_sources(value: ast.expr) -> set[str]:
    """The variables whose objects the value of an assignment may hold (not copy): the
    value itself (``b = a``, ``b = a.part``), the elements of a display (``[a, b]``), and
    what a call is passed (``Pipeline([("s", scaler)])`` keeps ``scaler``)."""
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred)):
        name = _variable(value)
        return {name} if name is not None else set()
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*map(_alias_sources, value.elts))
    if isinstance(value, ast.Dict):
        return set().union(*map(_alias_sources, filter(None, [*value.keys, *value.values])))
    if isinstance(value, ast.Call):
        passed = [*value.args, *(k.value for k in value.keywords)]
        return {n.id for arg in passed for n in ast.walk(arg)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return set()


def function_changes(node: ast.AST) -> set[str]:
    """The variables the body of a function/lambda/class may change in place: receivers of
    its method calls, roots of its attribute and item assignments and deletions, and what
    it passes to bare calls or to callees known to change their argument. The caller keeps
    those that are globals of the body."""
    changed: set[str | None] = set()
    body = node.body if isinstance(node.body, list) else [node.body]  # type: ignore[attr-defined]
    for root in body:
        for child in ast.walk(root):
            if isinstance(child, ast.Call):
                func = child.func
                if isinstance(func, ast.Attribute):
                    changed.add(_root(func))
                    if func.attr in MUTATING_METHODS or func.attr.endswith("_"):
                        changed.update(map(_variable, child.args[:1]))
                elif isinstance(func, ast.Name) and func.id not in PURE_CALLS:
                    changed.update(map(_variable, [*child.args,
                                                   *(k.value for k in child.keywords)]))
            elif isinstance(child, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (child.targets if isinstance(child, (ast.Assign, ast.Delete))
                           else [child.target])
                for target in targets:
                    for part in ast.walk(target):
                        if isinstance(part, (ast.Attribute, ast.Subscript)):
                            changed.add(_root(part))
    changed.discard(None)
    return changed  # type: ignore[return-value]


class ModuleScan(ast.NodeVisitor):
    """Module-scope names one statement binds and reads, in evaluation order.

    A name read after the same statement bound it (``for i in xs: print(i)``) is not a use.
    Names bound inside ``if``/``for``/``while``/``match`` bodies or ``except`` handlers are
    only *maybe* bound, so an earlier definition is still captured too.
    """

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.definite: set[str] = set()
        self.maybe: set[str] = set()
        self.star = False
        self.imported: set[str] = set()
        self.packages: dict[str, str] = {}
        self.uses: dict[str, int] = {}
        self.deferred: dict[str, int] = {}
        self.soft: dict[str, int] = {}
        self.mutates: set[str] = set()
        self.acts_on: set[str] = set()
        self.receivers: set[str] = set()
        self.calls: dict[str, int] = {}
        self.effect_calls: set[str] = set()
        self.unsure: str | None = None
        self.global_writes: set[str] = set()
        self.deferred_changes: set[str] = set()
        self.aliases: dict[str, set[str]] = {}
        self._depth = 0

    # -- helpers ---------------------------------------------------------------------------
    def _bind(self, name: str) -> None:
        self.bound.add(name)
        (self.maybe if self._depth else self.definite).add(name)

    def _use(self, name: str, line: int, into: dict[str, int] | None = None) -> None:
        if name not in self.bound:
            (self.uses if into is None else into).setdefault(name, line)

    def _visit_all(self, nodes: list[ast.AST] | list[ast.stmt] | list[ast.expr]) -> None:
        for node in nodes:
            self.visit(node)

    def _conditional(self, nodes: list[ast.stmt]) -> None:
        self._depth += 1
        self._visit_all(nodes)
        self._depth -= 1

    def _soft(self, node: ast.expr | None) -> None:
        for child in ast.walk(node) if node is not None else ():
            if isinstance(child, ast.Name):
                self._use(child.id, child.lineno, self.soft)

    def _target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        else:  # attribute or subscript: the object is read, then changed in place
            self.visit(target)
            root = _root(target)
            if root in OPAQUE_CALLS:  # globals()["x"] = 1
                self.unsure = f"`{root}()` can set any variable"
            elif root is not None:
                self.mutates.add(root)

    def _function_body(self, node: ast.AST) -> None:
        reads, writes = function_globals(node)
        for name, line in reads.items():
            self.deferred.setdefault(name, line)
        self.global_writes |= writes
        self.deferred_changes |= function_changes(node) & set(reads)

    # -- expressions -----------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._use(node.id, node.lineno)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_all([*node.args.defaults, *filter(None, node.args.kw_defaults)])
        self._function_body(node)

    def _comprehension(self, node: ast.expr, results: list[ast.expr]) -> None:
        outer = self.bound
        inner = set(outer)  # targets are local to the comprehension, never module names
        for index, generator in enumerate(node.generators):  # type: ignore[attr-defined]
            self.bound = outer if index == 0 else inner
            self.visit(generator.iter)
            self.bound = inner
            inner.update(n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name))
            self._visit_all(generator.ifs)
        self._visit_all(results)
        self.bound = outer | (self.definite | self.maybe)  # walrus targets leak out

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp  # type: ignore[assignment]
    visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    # -- simple statements -----------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._target(target)
        self._alias(node.targets, node.value)

    def _alias(self, targets: list[ast.expr], value: ast.expr | None) -> None:
        """``pipe = Pipeline([("s", scaler)])``: changing ``pipe`` may change ``scaler``."""
        sources = _alias_sources(value) - self.bound if value is not None else set()
        for target in targets:
            for name in ast.walk(target):
                if sources and isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                    self.aliases.setdefault(name.id, set()).update(sources)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._use(node.target.id, node.lineno)
        self._target(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._soft(node.annotation)
        if node.value is not None:
            self.visit(node.value)
            self._target(node.target)
            self._alias([node.target], node.value)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if not isinstance(target, ast.Name):
                self.visit(target)
                root = _root(target)
                if root is not None:
                    self.mutates.add(root)

    def visit_Expr(self, node: ast.Expr) -> None:
        self.visit(node.value)
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call):
            self._effect(value)

    def visit_Call(self, node: ast.Call) -> None:
        """A call anywhere in the statement changes what it is known to change."""
        self.generic_visit(node)
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        changed = []
        if name in MUTATING_METHODS or (
                isinstance(func, ast.Attribute) and name is not None and name.endswith("_")
                and not name.startswith("_")):  # torch's in-place `normal_(w)`
            changed += node.args[:1]
        changed += [k.value for k in node.keywords if k.arg == "out"]
        if isinstance(func, ast.Attribute):
            root = _root(func)
            if root is not None and root not in OPAQUE_CALLS:
                self.receivers.add(root)
        elif isinstance(func, ast.Name) and func.id not in PURE_CALLS \
                and func.id not in OPAQUE_CALLS:
            # A function of the notebook or one imported: it may change what it is passed.
            self.calls.setdefault(func.id, node.lineno)
            changed += [*node.args, *(k.value for k in node.keywords)]
        self.acts_on |= {v for v in map(_variable, changed) if v is not None}

    def _effect(self, call: ast.Call) -> None:
        """A call made as a statement is there for its effect: on what may it act?"""
        func = call.func
        if isinstance(func, ast.Name):
            name = func.id
            if name in OPAQUE_CALLS:
                self.unsure = f"`{name}()` can change any variable"
            elif name not in PURE_CALLS and name not in ("setattr", "delattr"):
                self.effect_calls.add(name)
        else:  # random.seed(42), items.append(3), cfg.update(a=1)
            root = _root(func)
            if root in OPAQUE_CALLS:  # globals().update(...)
                self.unsure = f"`{root}()` can change any variable"
                return
            if root is not None:
                self.acts_on.add(root)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self._bind(name)
            self.imported.add(name)
            self.packages[name] = alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star = True
            else:
                self._bind(alias.asname or alias.name)
                self.imported.add(alias.asname or alias.name)
                if node.level == 0 and node.module:
                    self.packages[alias.asname or alias.name] = node.module.split(".")[0]

    def visit_Global(self, node: ast.Global) -> None:
        """``global`` at module level changes nothing."""

    # -- definitions -----------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        self._visit_all([*node.decorator_list, *args.defaults, *filter(None, args.kw_defaults)])
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        for arg in filter(None, every):
            self._soft(arg.annotation)
        self._soft(node.returns)
        self._bind(node.name)
        self._function_body(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_all([*node.decorator_list, *node.bases, *node.keywords])
        body = ModuleScan()
        body.bound = set(self.bound)  # the class body sees module names bound so far
        body._visit_all(node.body)
        for name, line in body.uses.items():
            self._use(name, line)
        for name, line in body.soft.items():
            self._use(name, line, self.soft)
        for name, line in body.deferred.items():
            self.deferred.setdefault(name, line)
        self.global_writes |= body.global_writes
        self.deferred_changes |= body.deferred_changes
        self.mutates |= body.mutates - body.definite - body.maybe
        self.acts_on |= body.acts_on - body.definite - body.maybe
        self.receivers |= body.receivers - body.definite - body.maybe
        self.effect_calls |= body.effect_calls
        for name, line in body.calls.items():
            self.calls.setdefault(name, line)
        self.unsure = self.unsure or body.unsure
        self._bind(node.name)

    # -- compound statements ---------------------------------------------------------------
    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._depth += 1
        self._target(node.target)
        self._depth -= 1
        self._conditional([*node.body, *node.orelse])

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_While(self, node: ast.While | ast.If) -> None:
        self.visit(node.test)
        self._conditional([*node.body, *node.orelse])

    visit_If = visit_While  # type: ignore[assignment]

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._target(item.optional_vars)
        self._visit_all(node.body)

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    def visit_Try(self, node: ast.Try) -> None:
        self._visit_all(node.body)
        self._depth += 1
        for handler in node.handlers:
            if handler.type is not None:
                self.visit(handler.type)
            if handler.name:
                self._bind(handler.name)
            self._visit_all(handler.body)
        self._visit_all(node.orelse)
        self._depth -= 1
        self._visit_all(node.finalbody)

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def visit_Match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        self._depth += 1
        for case in node.cases:
            self._visit_all([case.pattern, *filter(None, [case.guard]), *case.body])
        self._depth -= 1

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._bind(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._visit_all([*node.keys, *node.patterns])
        if node.rest:
            self._bind(node.rest)

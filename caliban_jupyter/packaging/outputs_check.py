"""Which names a generated program may define: for the dry run's ``-o`` warning (pure).

Conservative on purpose: a name counts as defined when the program binds it anywhere
(any assignment target, ``def``, ``class``, ``import ... as``, ``global``, a ``for`` or
``with`` target) or mentions it in a string literal (``globals()["x"] = ...``, the
experiment-parameter block, code that awaits at top level, run from a string).
``from m import *``, ``exec`` and ``eval`` make every name possible. The job itself is the
real check: it fails naming any ``-o`` it cannot find.
"""

from __future__ import annotations

import ast
import re

__all__ = ["assigned_names"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def assigned_names(program: str) -> set[str] | None:
    """The names ``program`` may define, or None when it cannot be told (or parsed)."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Global):
            names.update(node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # Code kept as a string (a cell that awaits at top level, run by a helper)
            # may define any name it mentions.
            names.update(_WORD.findall(node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("exec", "eval"):
            return None
    return names

"""Local modules a captured program imports: the files beside the notebook the job needs.

``import mylib`` in a notebook finds ``mylib.py`` (or the package ``mylib/``) in the
kernel's working directory. A job has only what its image holds, so these modules are
shipped with the program (see ``BuildRequest.modules``). Their own imports are followed:
a local module importing another is shipped with it, and the third-party modules they
import are pinned like the cell's. Pure apart from reading the directory and the modules.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalModules:
    """What to ship and what it imports.

    Attributes
    ----------
    paths
        Working-directory-relative paths, sorted: ``mylib.py`` for a module, ``mypkg`` for a
        package directory (shipped whole).
    imports
        Top-level names of every module the shipped code imports (for pinning).
    """

    paths: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()


def local_path(module: str, cwd: str | Path) -> str | None:
    """The file or package directory in ``cwd`` that ``import module`` finds, or ``None``.

    As Python's path finder does, a package directory with ``__init__.py`` comes before
    ``module.py``, which comes before a namespace package (a directory of ``.py`` files).
    Standard-library names and ``caliban_jupyter`` are never local.
    """
    if module in sys.stdlib_module_names or module == "caliban_jupyter" or \
            not module.isidentifier():
        return None
    base = Path(cwd)
    package = base / module
    if (package / "__init__.py").is_file():
        return module
    if (base / f"{module}.py").is_file():
        return f"{module}.py"
    if package.is_dir() and any(package.glob("*.py")):
        return module
    return None


def _imports_of(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return set()  # the kernel could not have imported it either
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    found.discard("__future__")
    return found


def local_modules(imports: Iterable[str], cwd: str | Path) -> LocalModules:
    """The local modules ``imports`` name, followed through their own imports."""
    base = Path(cwd)
    shipped: dict[str, str] = {}
    seen_imports: set[str] = set()
    work = [name.split(".")[0] for name in imports]
    while work:
        module = work.pop()
        if module in shipped:
            continue
        path = local_path(module, base)
        if path is None:
            continue
        shipped[module] = path
        files = [base / path] if path.endswith(".py") else sorted((base / path).rglob("*.py"))
        for file in files:
            found = _imports_of(file)
            seen_imports |= found
            work.extend(found - shipped.keys())
    return LocalModules(tuple(sorted(shipped.values())),
                        tuple(sorted(seen_imports - shipped.keys())))

"""The package's layers, read from its imports: no layer imports a higher one.

Every ``import`` and ``from ... import`` counts, wherever it is: at module level, inside
a function (the lazy imports that keep ``import caliban_jupyter`` cheap) and under
``if TYPE_CHECKING:``. Relative imports are resolved against the importing module.
(``importlib.import_module`` strings are not seen: the package uses them only for its own
lazy names, in the ``__init__`` files.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import caliban_jupyter

PKG = "caliban_jupyter"

#: Lowest first: (name, parts, peers). A module may import its own part, any part of a
#: lower layer and, where ``peers`` is True, the other parts of its own layer. A part is a
#: top-level module or subpackage of caliban_jupyter ("__init__" is the package itself).
LAYERS: list[tuple[str, frozenset[str], bool]] = [
    ("core", frozenset({"errors", "events"}), True),
    ("spec", frozenset({"spec"}), False),
    ("settings", frozenset({"settings"}), False),
    ("adapters", frozenset({"capture", "packaging", "backends", "emulator", "storage"}), True),
    ("state", frozenset({"records", "history", "tables"}), True),
    ("service", frozenset({"service"}), False),
    ("front-end support", frozenset({"flags", "flags_parse", "progress", "ask"}), True),
    ("widgets", frozenset({"widgets"}), False),
    ("front ends", frozenset({"cli", "notebook", "server"}), False),
    ("face", frozenset({"__init__"}), False),
]
#: Names the package itself defines, which any module may import from it.
FACE_NAMES = frozenset({"__version__"})
LAYER_OF = {part: i for i, (_, parts, _) in enumerate(LAYERS) for part in parts}


def _is_module(root: Path, dotted: str) -> bool:
    base = root.parent / Path(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    rest = module.split(".")[1:]
    return rest[0] if rest else "__init__"


def internal_imports(root: Path, path: Path) -> set[tuple[int, str]]:
    """``(line, module)`` of each import of the package in one file; ``from X import n``
    is an import of ``X.n`` when that is a module, else of ``X``."""
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                if target == PKG and alias.name in FACE_NAMES:
                    continue
                sub = f"{target}.{alias.name}"
                found.add((node.lineno, sub if _is_module(root, sub) else target))
    return {(n, m) for n, m in found if m == PKG or m.startswith(PKG + ".")}


def violations(root: Path) -> list[str]:
    """One line per import that breaks the layering (and per module with no layer)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        src = part_of(module_name(root, path))
        if src not in LAYER_OF:
            out.append(f"{where}: {src!r} is in no layer; add it to LAYERS")
            continue
        for line, target in sorted(internal_imports(root, path)):
            dst = part_of(target)
            if dst == src:
                continue
            if dst not in LAYER_OF:
                out.append(f"{where}:{line}: imports {target}, which is in no layer")
                continue
            mine, theirs = LAYER_OF[src], LAYER_OF[dst]
            if theirs < mine or (theirs == mine and LAYERS[mine][2]):
                continue
            out.append(f"{where}:{line}: {src} imports {target.removeprefix(PKG + '.')} "
                       f"({LAYERS[theirs][0]})")
    return out


def test_no_layer_imports_a_higher_one() -> None:
    assert violations(Path(caliban_jupyter.__file__).parent) == []


def test_lazy_and_type_checking_imports_count(tmp_path: Path) -> None:
    root = tmp_path / PKG
    for name in ("__init__.py", "spec/__init__.py", "spec/probe.py", "widgets/__init__.py",
                 "widgets/table.py", "notebook/__init__.py", "notebook/sweep.py", "errors.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "spec" / "probe.py").write_text(
        "from typing import TYPE_CHECKING\nfrom .. import errors, __version__\n"
        "if TYPE_CHECKING:\n    from ..widgets.table import JobTable\n"
        "def f():\n    from ..notebook import sweep\n")
    found = violations(root)
    assert len(found) == 2, found
    assert "spec/probe.py:4: spec imports widgets.table (widgets)" in found[0]
    assert "spec/probe.py:6: spec imports notebook.sweep (front ends)" in found[1]

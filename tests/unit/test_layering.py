"""The package's layers, read from its imports, as the README's "Layout" states them.

The rules:

- a layer imports only its own part, lower layers and (where the layer says so) the other
  parts of its layer: never a higher one ("upward");
- the front ends (cli, notebook, server, widgets) never import backends, packaging,
  capture or the emulator: they hold a JobGroup and call the service;
- the emulator is reached only through its client, ``backends/local.py``;
- spec imports only spec (and the errors everything raises);
- no cycle: no two packages import each other in either direction, and no modules import
  each other round a loop (each cycle is reported once, with the imports that close it).

Every ``import`` and ``from ... import`` counts, wherever it is: at module level, inside
a function (the lazy imports that keep ``import caliban_jupyter`` cheap) and under
``if TYPE_CHECKING:``. Relative imports are resolved against the importing module.
(``importlib.import_module`` strings are not seen: the package uses them only for its own
lazy names in the ``__init__`` files, and ``caliban emulator``, the emulator's own
command line.)
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
#: What a user works through, and what they never import.
FRONT_ENDS = frozenset({"cli", "notebook", "server", "widgets"})
BEHIND_THE_SERVICE = frozenset({"backends", "packaging", "capture", "emulator"})
#: The one module outside the emulator that may import it.
EMULATOR_CLIENT = f"{PKG}.backends.local"
#: What spec may import besides itself.
SPEC_MAY_IMPORT = frozenset({"spec", "errors"})


def _is_module(root: Path, dotted: str) -> bool:
    base = root.parent / Path(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    rest = module.split(".")[1:]
    return rest[0] if rest else "__init__"


def short(module: str) -> str:
    return module.removeprefix(PKG + ".") if module != PKG else PKG


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


def import_graph(root: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """module -> {imported module: (file, line) of the first import of it}."""
    graph: dict[str, dict[str, tuple[str, int]]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        edges = graph.setdefault(module, {})
        for line, target in sorted(internal_imports(root, path)):
            if target != module:
                edges.setdefault(target, (str(path.relative_to(root)), line))
    return graph


def _rule_breaks(src: str, module: str, target: str) -> str | None:
    """Why importing ``target`` from ``module`` (of part ``src``) breaks a rule, or None."""
    dst = part_of(target)
    if src == "spec" and dst not in SPEC_MAY_IMPORT:
        return f"spec imports {short(target)}: spec imports only spec (and errors)"
    if src in FRONT_ENDS and dst in BEHIND_THE_SERVICE:
        return (f"front end {src} imports {short(target)}: front ends hold a JobGroup and "
                f"call the service, never {dst}")
    if dst == "emulator" and src != "emulator" and module != EMULATOR_CLIENT:
        return (f"{short(module)} imports {short(target)}: the emulator is reached only "
                "through backends/local.py")
    if dst == src:
        return None
    if dst not in LAYER_OF:
        return f"imports {target}, which is in no layer"
    mine, theirs = LAYER_OF[src], LAYER_OF[dst]
    if theirs < mine or (theirs == mine and LAYERS[mine][2]):
        return None
    return f"{src} imports {short(target)} ({LAYERS[theirs][0]}): an upward import"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out)


def violations(root: Path) -> list[str]:
    """One line per import that breaks a rule, per module with no layer, and per cycle
    (of packages, and of modules)."""
    out = []
    graph = import_graph(root)
    for module in sorted(graph):
        src = part_of(module)
        where = next((w for w, _ in graph[module].values()), None)
        if src not in LAYER_OF:
            out.append(f"{short(module)}: {src!r} is in no layer; add it to LAYERS")
            continue
        for target, (where, line) in sorted(graph[module].items(), key=lambda e: e[1]):
            why = _rule_breaks(src, module, target)
            if why:
                out.append(f"{where}:{line}: {why}")
    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            if part_of(target) != part_of(module):
                parts.setdefault(part_of(module), set()).add(part_of(target))
    for cycle in _cycles(parts):
        out.append(f"package cycle: {' <-> '.join(cycle)} import each other")
    modules = {m: set(t) for m, t in graph.items()}
    for cycle in _cycles(modules):
        closing = [f"{graph[a][b][0]}:{graph[a][b][1]}" for a in cycle for b in cycle
                   if b in graph.get(a, {})]
        out.append(f"module cycle: {' <-> '.join(map(short, cycle))} "
                   f"(imports at {', '.join(closing)})")
    return out


def test_the_package_keeps_its_layers() -> None:
    assert violations(Path(caliban_jupyter.__file__).parent) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name in ("__init__.py", "errors.py", "events.py", "spec/__init__.py",
                 "backends/__init__.py", "backends/local.py", "packaging/__init__.py",
                 "capture/__init__.py", "emulator/__init__.py", "storage.py",
                 "service/__init__.py", "widgets/__init__.py", "cli/__init__.py",
                 "notebook/__init__.py", *files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.get(name, ""))
    return root


def test_lazy_and_type_checking_imports_count(tmp_path: Path) -> None:
    root = _tree(tmp_path / PKG, {
        "widgets/table.py": "", "notebook/sweep.py": "",
        "spec/probe.py": "from typing import TYPE_CHECKING\nfrom .. import errors, __version__\n"
                         "if TYPE_CHECKING:\n    from ..widgets.table import JobTable\n"
                         "def f():\n    from ..notebook import sweep\n"})
    found = violations(root)
    assert found == [
        "spec/probe.py:4: spec imports widgets.table: spec imports only spec (and errors)",
        "spec/probe.py:6: spec imports notebook.sweep: spec imports only spec (and errors)",
    ], found


def test_each_kind_of_violation_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path / PKG, {
        # upward: an adapter imports the service
        "storage.py": "from .service import plan\n",
        "service/plan.py": "",
        # front ends importing what stands behind the service
        "notebook/magics.py": "from ..backends.vertex import VertexBackend\n",
        "backends/vertex.py": "",
        "widgets/table.py": "def f():\n    from ..packaging import docker\n",
        "packaging/docker.py": "",
        # the emulator reached other than through its client (a peer: layers allow it)
        "packaging/staging.py": "from ..emulator.control import default_state_dir\n",
        "emulator/control.py": "",
        "backends/local.py": "from ..emulator import control\n",
        # spec importing something lower than itself but not errors
        "spec/labels.py": "from ..events import Info\n",
        # two packages importing each other (peers of one layer)
        "capture/program.py": "from ..packaging import docker\n",
        "packaging/context.py": "from ..capture import program\n",
        # modules importing each other round a loop, inside one package
        "service/a.py": "from . import b\n",
        "service/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from . import a\n",
        # a module of no layer
        "gadgets/__init__.py": "",
    })
    found = violations(root)
    expected = [
        "gadgets: 'gadgets' is in no layer; add it to LAYERS",
        "notebook/magics.py:1: front end notebook imports backends.vertex: front ends hold "
        "a JobGroup and call the service, never backends",
        "packaging/staging.py:1: packaging.staging imports emulator.control: the emulator "
        "is reached only through backends/local.py",
        "spec/labels.py:1: spec imports events: spec imports only spec (and errors)",
        "storage.py:1: storage imports service.plan (service): an upward import",
        "widgets/table.py:2: front end widgets imports packaging.docker: front ends hold a "
        "JobGroup and call the service, never packaging",
        "package cycle: capture <-> packaging import each other",
        "module cycle: service.a <-> service.b (imports at service/a.py:1, service/b.py:3)",
    ]
    assert found == expected, found


def test_the_readme_layout_names_every_part_and_service_module() -> None:
    """The README's "Layout" block matches the tree: each package and top-level module,
    and each module of the pipeline (service/) and of the job-service clients (backends/)."""
    root = Path(caliban_jupyter.__file__).parent
    readme = (root.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    parts = {p.name if p.is_dir() else p.name for p in root.iterdir()
             if (p.is_dir() and (p / "__init__.py").is_file())
             or (p.suffix == ".py" and p.name != "__init__.py")}
    missing = sorted(p for p in parts if p.removesuffix(".py") not in layout)
    for package in ("service", "backends"):
        missing += sorted(f"{package}/{p.name}" for p in (root / package).glob("*.py")
                          if p.name != "__init__.py" and p.name not in layout
                          and p.stem not in layout)
    assert missing == [], f"not in the README's Layout: {missing}"

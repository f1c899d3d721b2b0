"""Classify what the user asked to run: a module, a Python script, another file, a notebook."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from ..errors import TargetError

Kind = Literal["module", "script", "bash", "notebook"]

PROGRAM_FILE = "caliban_main.py"  # generated program (captured cell code)
# Executes a notebook in the job (shipped by packaging/jobfiles): papermill's conventions.
NOTEBOOK_RUNNER = "caliban_notebook.py"

_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Target:
    """The program a job runs.

    ``name`` is what the user typed; ``path`` the file relative to the working directory
    (POSIX form); ``kind`` how the container runs it.
    """

    kind: Kind
    name: str
    path: str

    @property
    def package_root(self) -> str:
        """The directory copied as the job's code: the first path component, or ``.``."""
        parts = PurePosixPath(self.path).parts
        return parts[0] if len(parts) > 1 else "."

    def command(self) -> list[str]:
        """The container command that runs it (the job's args are appended)."""
        if self.kind == "module":
            return ["python3", "-m", self.name]
        if self.kind == "script":
            return ["python3", self.path]
        if self.kind == "notebook":
            # The .ipynb travels with the code and runs in a kernel; the job's arguments
            # (after "--") are its parameters.
            return ["python3", NOTEBOOK_RUNNER, "--outputs", "", self.path, "--"]
        return ["bash", self.path]

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "path": self.path}


def classify_target(name: str, cwd: str | os.PathLike[str] = ".") -> Target:
    """Decide how ``name`` runs, checking that it exists under ``cwd``.

    ``trainer.train`` → module (``python -m``) if ``trainer/train.py`` exists;
    ``trainer/train.py`` → script; ``*.ipynb`` → notebook; any other file → ``bash``.
    """
    root = Path(cwd).resolve()
    if not name or not name.strip():
        raise TargetError("no module given: name a module (trainer.train), a script "
                          "(trainer/train.py), a file to run with bash, or a notebook (.ipynb)")
    candidate = (root / name)
    if candidate.is_file():
        resolved = candidate.resolve()
        try:
            rel = resolved.relative_to(root)
        except ValueError:
            raise TargetError(
                f"{name!r} is outside the current directory {root}; caliban packages only "
                "code under the directory you run it from. cd to the project root first."
            ) from None
        path = rel.as_posix()
        if path.endswith(".ipynb"):
            return Target("notebook", name, path)
        if path.endswith(".py"):
            return Target("script", name, path)
        return Target("bash", name, path)
    if _MODULE_RE.match(name) and not name.endswith(".py"):
        module_path = Path(*name.split("."))
        for rel_path in (module_path.with_suffix(".py"), module_path / "__main__.py"):
            if (root / rel_path).is_file():
                return Target("module", name, rel_path.as_posix())
        if candidate.is_dir():
            raise TargetError(f"{name!r} is a directory; name a module, a script or a "
                              "notebook in it (e.g. trainer.train)")
        raise TargetError(
            f"module {name!r} not found: neither {module_path.with_suffix('.py').as_posix()} "
            f"nor {(module_path / '__main__.py').as_posix()} exists under {root}. "
            "Run caliban from your project's root directory."
        )
    if candidate.is_dir():
        raise TargetError(f"{name!r} is a directory; name a module, a script or a notebook in it")
    raise TargetError(f"file {name!r} not found under {root}. "
                      "Run caliban from your project's root directory, or fix the path.")

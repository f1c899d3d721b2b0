"""A cell (or a string of code) as a job's program: the request fields it fills.

Shared by ``%%caliban_cloud``, ``caliban_jupyter.cloud(code)`` and the form: the captured
program with its notes, the experiment keys that become its variables, the local modules
it imports and the pinned requirements of everything it imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CaptureError, ExperimentConfigError


def program_overrides(code: str, history: Sequence[str], mode: str,
                      experiments: Sequence[Mapping[str, Any]], cwd: str,
                      values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The request fields of a captured cell: its program, parameters, notes, the local
    modules it imports and the pinned requirements of everything it imports.

    ``values`` is the kernel's namespace: the values the cell reads ship from it."""
    from ..capture.local import local_modules

    parameters = experiment_parameters(experiments)
    program = capture_cell(code, history, mode, parameters, values)
    local = local_modules(program.imports, cwd)
    return dict(program=program.source, program_parameters=parameters,
                program_notes=program.notes, program_modules=local.paths,
                requirements=requirements((*program.imports, *local.imports), cwd))


def experiment_parameters(experiments: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The experiment keys, which become variables of the captured program.

    A key that cannot be a variable (``learning-rate``, ``--lr``, ``class``) is an error
    here, before anything is built: the program could not use it.
    """
    import keyword

    seen: dict[str, None] = {}
    for experiment in experiments:
        for key in experiment:
            seen.setdefault(key)
    bad = [k for k in seen if not k.isidentifier() or keyword.iskeyword(k)]
    if bad:
        hints = ", ".join(f"{k!r} -> {_identifier(k)!r}" for k in bad)
        raise ExperimentConfigError(
            f"experiment key{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} cannot "
            "become a variable of the cell's program: in a cell, each key is a Python variable "
            f"(and the job's --KEY flag). Rename: {hints}. Code that parses its own flags "
            "(argparse) runs as a script: caliban cloud script.py")
    return tuple(seen)


def _identifier(key: str) -> str:
    import keyword

    name = re.sub(r"\W", "_", key.lstrip("-")) or "value"
    name = f"_{name}" if name[0].isdigit() else name
    return f"{name}_" if keyword.iskeyword(name) else name


def capture_cell(code: str, history: Sequence[str], mode: str, parameters: tuple[str, ...],
                 values: Mapping[str, Any] | None = None):
    """The captured program of ``code`` (see :func:`caliban_jupyter.capture.program`)."""
    from ..capture.program import capture

    try:
        return capture(code, list(history), mode=mode, parameters=parameters, values=values)
    except SyntaxError as e:
        raise CaptureError(f"the cell is not valid Python (line {e.lineno}): {e.msg}") from None


def requirements(imports: Sequence[str], cwd: str) -> tuple[str, ...]:
    """Pinned requirements for the captured imports, unless the directory declares its own
    (requirements.txt, setup.py or pyproject.toml win, as with the CLI)."""
    from ..packaging.context import REQUIREMENTS_FILE, SETUP_FILES

    if any(Path(cwd, n).is_file() for n in (REQUIREMENTS_FILE, *SETUP_FILES)):
        return ()
    from ..capture.program import pinned_requirements

    return tuple(pinned_requirements(imports, cwd=cwd))

"""Export: a notebook or a cell becomes a job directory that ``caliban cloud`` submits as is.

A thin layer over the pipeline. The request is the one ``caliban cloud`` or
``%%caliban_cloud`` would submit (:class:`~caliban_jupyter.service.plan.CloudRequest`, with the
flags of ``.calibanconfig.json`` merged in); the program, its notes, local modules and
pinned requirements are the ones the job would get (the notebook's capture, or the cell's,
:mod:`caliban_jupyter.service.cell_program`). The directory is staged and planned as ``caliban
cloud`` would plan it before anything reaches the target, so an export that could not be
submitted is never written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import CalibanError, ExportError, UsageError
from ..packaging import export as files
from .export_config import job_config
from .plan import CloudRequest, with_config_flags

__all__ = ["Exported", "cell_job", "export_job", "notebook_job", "zip_job"]


@dataclass(frozen=True)
class Exported:
    """A written job directory: where, what it holds, and what to know about it."""

    target: Path
    paths: tuple[str, ...]
    notes: tuple[str, ...]

    def __repr__(self) -> str:
        lines = [f"exported a job directory to {self.target}: {', '.join(self.paths)}"]
        lines += [f"  {note}" for note in self.notes]
        lines.append(f"submit it with: bash {self.target / files.SUBMIT}  (add --dry_run to "
                     "see the jobs first)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Program:
    """What the job runs, whichever way it was captured."""

    source: str
    notes: Sequence[str]  # what the job does not run, one line each
    modules: Sequence[str]  # local modules to copy, relative to ``root``
    root: str
    pins: Sequence[str]  # pinned requirements of everything it imports


# ---------------------------------------------------------------------------- the content

def notebook_job(request: CloudRequest, *, notebook: Any = None,
                 now: _dt.datetime | None = None) -> files.JobDirectory:
    """The job directory of the notebook ``request.module`` (relative to ``request.cwd``).

    ``notebook`` is the notebook already read (nbconvert hands one over).
    """
    from ..capture.local import local_modules
    from ..capture.notebook import notebook_capture, read_notebook
    from ..capture.program import assigned_names, pinned_requirements

    path = Path(request.cwd, request.module or "")
    if not path.name.endswith(".ipynb"):
        raise UsageError(f"{request.module!r} is not a notebook: give a .ipynb file")
    nb = notebook if notebook is not None else read_notebook(path)
    merged = with_config_flags(request)
    experiment_text, experiments = _experiments(merged)
    cells = [(n, c.source) for n, c in enumerate(nb.cells, start=1)
             if c.get("cell_type") == "code"]
    keys = [k for e in experiments for k in e if k.isidentifier()]
    files.check_notebook(cells, path.name, parameters=keys)
    tagged = [(n, c.source) for n, c in enumerate(nb.cells, start=1)
              if c.get("cell_type") == "code"
              and "parameters" in c.get("metadata", {}).get("tags", ())]
    captured = notebook_capture(path, experiments, notebook=nb)
    numbers = [n for n, _ in cells]
    defaults = assigned_names(tagged[0][1]) if tagged else ()
    header = [f"{files.PROGRAM}: the notebook {request.module} as one program, exported by "
              f"caliban-jupyter {__version__} on {_stamp(now)}.",
              "Source: its code cells, in order, from",
              f"  {path.resolve()}",
              (f"Cell {tagged[0][0]} is the parameters cell (tagged \"parameters\"); its "
               "values are the defaults." if tagged else
               "No cell is tagged \"parameters\"."),
              *_parameter_lines(list(dict.fromkeys([*defaults, *keys])))]
    root = str(path.parent)
    local = local_modules(captured.imports, root)
    program = _Program(
        source=_relabel(captured.source, numbers, tagged[0][0] if tagged else None),
        notes=[_in_cells(note, numbers) for note in captured.notes],
        modules=local.paths, root=root,
        pins=pinned_requirements((*captured.imports, *local.imports), cwd=root))
    return _assemble(request, merged, experiment_text, program, header)


def _relabel(source: str, numbers: Sequence[int], parameters: int | None) -> str:
    """Name the notebook's cells in the program's section comments as the header does.

    The capture marks the k-th code cell ``In[k]`` and ends with the (here empty) section
    of the submitted cell; for a notebook, its cell numbers read better.
    """
    def cell(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if not 0 < index <= len(numbers):
            return match.group(0)
        number = numbers[index - 1]
        return f"# --- cell {number}{' (parameters)' if number == parameters else ''} ---"

    source = re.sub(r"(?m)^# --- In\[(\d+)\] ---$", cell, source)
    return re.sub(r"\n*# --- the %%caliban_cloud cell ---\n*\Z", "\n", source)


def _in_cells(note: str, numbers: Sequence[int]) -> str:
    """``In[k] line L: ...`` of the capture's notes, with the notebook's cell number."""
    match = re.match(r"In\[(\d+)\] line (\d+)", note)
    if match is None or not 0 < int(match.group(1)) <= len(numbers):
        return note
    return f"cell {numbers[int(match.group(1)) - 1]}, line {match.group(2)}" + \
        note[match.end():]


def cell_job(request: CloudRequest, *, cell: str, source: str | None = None,
             now: _dt.datetime | None = None) -> files.JobDirectory:
    """The job directory of a captured cell: ``request`` as ``api.cloud_request`` made it
    (its program, notes, local modules and pins are the cell's).

    ``cell`` names the cell for a person (``"In[7]"``); ``source`` is the notebook (or
    whatever ran the kernel) when known.
    """
    merged = with_config_flags(request)
    experiment_text, experiments = _experiments(merged)
    keys = list(dict.fromkeys(k for e in experiments for k in e if k.isidentifier()))
    header = [f"{files.PROGRAM}: the %%caliban_cloud cell {cell} with the code it needs from "
              f"the cells run before it, exported by caliban-jupyter {__version__} on "
              f"{_stamp(now)}.",
              f"Source: the kernel of {source or 'a notebook (its path unknown to the kernel)'}.",
              *_parameter_lines(keys)]
    program = _Program(source=request.program or "", notes=request.program_notes,
                       modules=request.program_modules, root=request.cwd,
                       pins=request.requirements)
    return _assemble(request, merged, experiment_text, program, header)


def _stamp(now: _dt.datetime | None) -> str:
    return f"{(now or _dt.datetime.now()):%Y-%m-%d %H:%M:%S}"


def _parameter_lines(names: Sequence[str]) -> list[str]:
    if not names:
        return ["Parameters: none."]
    return [f"Parameters: {', '.join(names)}. A job sets each with `--NAME VALUE` (a Python "
            f"literal, else a string), e.g. `python3 {files.PROGRAM} --{names[0]} VALUE`; "
            f"{files.EXPERIMENT} sets them per job when there is one."]


def _experiments(request: CloudRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """The experiment config as ``experiment.json`` text (a file keeps its comments) and
    the experiments it expands to."""
    from ..spec.experiments import expand_experiment_config, load_experiment_config

    source = request.experiment_config
    if source is None:
        return None, [{}]
    config = load_experiment_config(source)
    if isinstance(source, str) and source.lower() != "stdin":
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = json.dumps(config, indent=2) + "\n"
    return text, expand_experiment_config(config)


def _assemble(request: CloudRequest, merged: CloudRequest, experiment_text: str | None,
              program: _Program, header: list[str]) -> files.JobDirectory:
    from ..packaging.context import check_dirs
    from ..packaging.export_files import copy_paths, merged_copies

    cwd = request.cwd
    notes: list[str] = []
    modules, module_secrets = copy_paths(program.root, program.modules)
    if program.modules:
        notes.append(f"copied the local modules it imports: {', '.join(program.modules)}")
    dirs = check_dirs(cwd, tuple(merged.dirs))
    dir_files, credentials = copy_paths(cwd, dirs)
    for d in dirs:
        count = sum(1 for rel in dir_files if rel.startswith(d.rstrip("/") + "/"))
        notes.append(f"copied --dir {d} ({count} files)")
    notes += [f"left out {rel}: it looks like a credential"
              for rel in (*module_secrets, *credentials)]
    requirements, requirement_copies, note = _requirements(cwd, program.pins)
    notes.append(note)
    config = job_config(request, merged, dirs, experiment_text is not None, notes)
    header = [*header, f"Submit: bash {files.SUBMIT}  (flags in {files.CONFIG}).",
              "Beside it:", *(f"  {note}" for note in notes)]
    generated = {
        files.PROGRAM: files.render_program(header, program.notes, program.source),
        files.CONFIG: files.render_config(config),
        files.SUBMIT: files.render_submit(config, [header[0].replace(
            f"{files.PROGRAM}: ", f"{files.SUBMIT}: submits {files.PROGRAM}, ", 1)]),
    }
    if requirements is not None:
        generated[files.REQUIREMENTS] = requirements
    if experiment_text is not None:
        generated[files.EXPERIMENT] = experiment_text
    copies = merged_copies(requirement_copies, modules, dir_files)
    clash = sorted(set(generated) & set(copies))
    if clash:
        raise ExportError(f"the project has its own {clash[0]}, which the export writes: "
                          "rename it, or take it out of the --dir directories")
    return files.JobDirectory({k: v.encode() for k, v in generated.items()}, copies,
                              tuple(notes))


def _requirements(cwd: str, pins: Sequence[str]) -> tuple[str | None, dict[str, str], str]:
    """(generated requirements.txt or None, files to copy, a note), as the magic decides:
    the project's requirements.txt, else its setup files, else the pins of the imports."""
    from ..packaging.context import REQUIREMENTS_FILE, SETUP_FILES
    from ..packaging.export_files import requirement_files

    if Path(cwd, REQUIREMENTS_FILE).is_file():
        copies = requirement_files(cwd, REQUIREMENTS_FILE)
        return None, copies, f"copied the project's own {', '.join(sorted(copies))}"
    setup = {n: str(Path(cwd, n)) for n in SETUP_FILES if Path(cwd, n).is_file()}
    if {"setup.py", "pyproject.toml"} & set(setup):
        text = files.render_requirements((), f"The dependencies are those of "
                                         f"{', '.join(sorted(setup))}, copied beside it.")
        return text, setup, f"copied the project's {', '.join(sorted(setup))} (its " \
            "dependencies); requirements.txt lists nothing more"
    text = files.render_requirements(pins, "The distributions the program's imports come "
                                     "from, at the versions installed where it was exported.")
    return text, {}, (f"pinned {len(pins)} requirements of its imports" if pins else
                      "its imports need no distribution: requirements.txt lists none")


# ------------------------------------------------------------------------------- writing

def _check(staged: Path, shown: str) -> None:
    """Plan the staged directory as ``caliban cloud`` would (a dry run, nothing built).

    Where it runs and how it is built are decided when it is submitted: the plan uses an
    installed job service that needs no project (the local emulator's), and names an
    image, so that no Docker engine is asked and no build mode is chosen here.
    """
    from .backends import backend_names, backend_type
    from .plan import plan_from_request

    anywhere = next((n for n in backend_names() if not backend_type(n).needs_project), None)
    try:
        plan_from_request(CloudRequest(module=files.PROGRAM, cwd=str(staged), backend=anywhere,
                                       image_tag="caliban-export-check:0", dry_run=True))
    except CalibanError as e:
        raise ExportError(f"the exported directory would not submit, so nothing was written: "
                          f"{str(e).replace(str(staged), shown)}") from None


def export_job(job: files.JobDirectory, target: str | os.PathLike[str], *,
               force: bool = False, confirm: Callable[[str], bool | None] | None = None
               ) -> Exported:
    """Write ``job`` to ``target`` (see :func:`~.packaging.export_files.write_directory`
    for when a non-empty directory is written into), after checking it submits."""
    from ..packaging.export_files import write_directory

    where = Path(target).expanduser()
    before = sorted(p.name for p in where.iterdir()) if where.is_dir() else []
    path = write_directory(job, target, force=force, confirm=confirm,
                           check=lambda staged: _check(staged, os.fspath(target)))
    ours = {rel.split("/", 1)[0] for rel in job.paths()}
    kept = [name for name in before if name not in ours]
    notes = (*job.notes, *([f"left as they were: {', '.join(kept)}"] if kept else []))
    return Exported(path, tuple(job.paths()), notes)


def zip_job(job: files.JobDirectory, root: str) -> bytes:
    """``job`` as a zip archive under ``root/``, checked to submit first."""
    from ..packaging.export_files import stage, zip_directory

    with tempfile.TemporaryDirectory(prefix="caliban-export-") as tmp:
        stage(job, Path(tmp))
        _check(Path(tmp), root)
    return zip_directory(job, root)

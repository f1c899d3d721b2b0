"""A whole notebook as one job's program (pure apart from reading the notebook).

``caliban cloud NOTEBOOK.ipynb`` runs it, ``caliban export`` writes it as ``main.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caliban_jupyter.capture.program import CapturedProgram, assigned_names, capture
from caliban_jupyter.errors import CaptureError, TargetError

__all__ = ["notebook_capture", "read_notebook"]


def notebook_capture(path: Path, experiments: Sequence[Mapping[str, Any]], *,
                     notebook: Any = None) -> CapturedProgram:
    """A whole notebook as one job's program, with what the capture knows of it.

    Every code cell is captured in order, as the executed cells of a kernel are
    (``In[k]`` is the k-th code cell): shell lines and ``%%bash`` cells run, other magics
    do not (``notes`` says which). The names the cell tagged ``parameters`` (papermill's
    convention) assigns and the experiment keys are parameters: the job's ``--NAME VALUE``
    replaces each where the notebook defines it, so ``-- --epochs 5`` overrides
    ``epochs`` as its label says. ``notebook`` is the notebook already read (``path`` then
    only names it).
    """
    nb = notebook if notebook is not None else read_notebook(path)
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", ())]
    defaults = assigned_names(tagged[0].source) if tagged else ()
    keys = (k for e in experiments for k in e if k.isidentifier())
    names = tuple(dict.fromkeys([*defaults, *keys]))
    try:
        return capture("", ["", *(c.source for c in code)], mode="all", parameters=names)
    except SyntaxError as e:
        raise CaptureError(f"{path.name}: a code cell is not valid Python (line {e.lineno}: "
                           f"{e.msg}); fix it and save the notebook") from None


def read_notebook(path: Path) -> Any:  # an nbformat.NotebookNode
    """The notebook at ``path`` (nbformat 4), or a :class:`TargetError` saying why not."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as e:
        raise TargetError(f"{path.name} is not a readable Jupyter notebook ({e}); "
                          "open and save it in Jupyter, or name a module or script") from None

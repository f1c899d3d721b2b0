"""Real-kernel fixtures: notebooks run by nbclient in this venv's kernel against the local
Vertex emulator and the Docker engine (scripts/services.sh)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from support import TRAIN, install_kernelspec

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def kernel_env():
    """Environment of the kernels: the run's private CALIBAN_HOME (tests/conftest.py stops
    its emulator at the end), the local base image, no Google metadata probe."""
    env = {"CALIBAN_BASE_IMAGE": os.environ["CALIBAN_TEST_BASE_IMAGE"]}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # The kernel nbclient starts must be this interpreter (it has caliban_jupyter).
    install_kernelspec()
    yield {**env, "CALIBAN_HOME": os.environ["CALIBAN_HOME"]}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def run_notebook(nb: nbformat.NotebookNode, cwd: Path, *, allow_errors: bool = False,
                 timeout: int = 900) -> nbformat.NotebookNode:
    """Execute ``nb`` in a fresh kernel with working directory ``cwd``; return it."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def outputs_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell showed as text: streams, results, errors."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def notebook_of(*sources: str) -> nbformat.NotebookNode:
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture
def workdir(tmp_path, kernel_env):
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path

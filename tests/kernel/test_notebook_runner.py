"""The job's notebook runner, executed here with this venv's kernel: the same file runs in
the job image (tests/integration/test_outputs_docker.py runs it there)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from caliban_jupyter.packaging.jobfiles import caliban_notebook

pytestmark = pytest.mark.kernel


def _write(path, *sources, tag_first=True):
    cells = [new_code_cell(s) for s in sources]
    if tag_first:
        cells[0].metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def _run(tmp_path, outputs, *params):
    base = tmp_path / "out"
    r = subprocess.run([sys.executable, caliban_notebook.__file__, "--outputs", outputs,
                        str(tmp_path / "nb.ipynb"), "--", *params],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={"AIP_MODEL_DIR": f"{base}/model/", "PATH": "/usr/bin:/bin",
                            "HOME": str(tmp_path)})
    return r, base


def test_parameters_override_defaults_and_shell_lines_run(tmp_path, kernel_env):
    _write(tmp_path / "nb.ipynb", "epochs = 3", "steps = epochs * 2\nprint('steps', steps)",
           "!echo shell says hi", "%%bash\necho bash says $((40 + 2))")
    r, base = _run(tmp_path, "steps,epochs", "--epochs", "5")
    assert r.returncode == 0, r.stderr
    # Outputs stream to the log as the cells run.
    assert "steps 10" in r.stdout and "shell says hi" in r.stdout
    assert "bash says 42" in r.stdout
    manifest = json.loads((base / "outputs" / "manifest.json").read_text())
    assert {n: json.loads((base / "outputs" / e["file"]).read_text())
            for n, e in manifest["outputs"].items()} == {"steps": 10, "epochs": 5}
    nb = nbformat.read(base / "notebook.ipynb", as_version=4)
    assert nb.cells[1].metadata["tags"] == ["injected-parameters"]
    assert "steps 10" in nb.cells[2].outputs[0]["text"]


def test_a_failing_cell_still_leaves_the_executed_notebook(tmp_path, kernel_env):
    _write(tmp_path / "nb.ipynb", "print('first cell ran')", "raise RuntimeError('boom')",
           "print('never')", tag_first=False)
    r, base = _run(tmp_path, "")
    assert r.returncode == 1
    assert "first cell ran" in r.stdout and "RuntimeError: boom" in r.stderr
    nb = nbformat.read(base / "notebook.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]  # no parameters: none injected
    assert code[0].outputs[0]["text"] == "first cell ran\n"
    assert code[1].outputs[0]["ename"] == "RuntimeError"
    assert code[1].metadata["caliban"] == {"failed": True}
    assert not code[2].get("outputs")
    assert "papermill-error-cell-tag" in nb.cells[0].metadata["tags"]
    manifest = json.loads((base / "outputs" / "manifest.json").read_text())
    assert manifest["error"] == "In [2]: RuntimeError: boom"


def test_a_tuning_trial_reports_the_notebooks_metric(tmp_path, kernel_env):
    _write(tmp_path / "nb.ipynb", "lr = 0.5", "loss = (lr - 0.1) ** 2")
    metrics = tmp_path / "hypertune" / "output.metrics"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "CLOUD_ML_HP_METRIC_FILE": str(metrics), "CLOUD_ML_TRIAL_ID": "7"}
    run = [sys.executable, caliban_notebook.__file__, "--outputs", "", "--metric", "loss",
           str(tmp_path / "nb.ipynb"), "--", "--lr=0.3"]
    r = subprocess.run(run, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    (line,) = metrics.read_text().splitlines()
    entry = json.loads(line)
    assert (float(entry["loss"]), entry["trial"]) == (pytest.approx(0.04), "7")
    # A metric the notebook never assigns fails the trial, saying so.
    metrics.unlink()
    r = subprocess.run([*run[:5], "accuracy", *run[6:]], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert "the tuning metric 'accuracy' was never assigned" in r.stderr
    assert not metrics.exists()

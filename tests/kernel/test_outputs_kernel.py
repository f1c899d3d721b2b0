"""`-o` values come back into the kernel: a 4-job sweep on the emulator, read with
`sweep.results()`, in a real kernel (nbclient) against real Docker."""

from __future__ import annotations

import json

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

SWEEP = """\
%%caliban_cloud --nogpu --experiment_config grid -o loss -o weights --xgroup kernel-outputs
import numpy as np
if lr == 0.2 and steps == 2:
    raise ValueError(f"diverged at lr={lr}")
weights = np.arange(steps + 1) * lr * scale
loss = float(weights.sum())
"""

READ = """\
import json
import numpy as np
sweep = _
rows = sweep.results(timeout=600, frame=False)
print("ROWS", json.dumps([{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                           for k, v in r.items()} for r in rows]))
print("ARRAYS", [type(r.get("weights")).__name__ for r in rows])
print("JOB0", json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v
                          for k, v in sweep.jobs[0].outputs.items()}))
"""


def test_four_jobs_values_into_the_kernel(tmp_path, kernel_env):
    nb = notebook_of(
        "%load_ext caliban_jupyter\n%config Caliban.backend = 'local'",
        "scale = 3",
        "grid = {'lr': [0.1, 0.2], 'steps': [1, 2]}",
        SWEEP,
        READ,
        "%caliban_outputs --xgroup kernel-outputs --dest got",
    )
    run_notebook(nb, tmp_path)
    text = outputs_text(nb.cells[4])
    line = next(x for x in text.splitlines() if x.startswith("ROWS "))
    rows = json.loads(line[5:])
    assert [(r["lr"], r["steps"], r["state"]) for r in rows] == [
        (0.1, 1, "SUCCEEDED"), (0.1, 2, "SUCCEEDED"), (0.2, 1, "SUCCEEDED"),
        (0.2, 2, "FAILED")]
    for r in rows[:3]:
        expected = [i * r["lr"] * 3 for i in range(r["steps"] + 1)]
        assert r["weights"] == pytest.approx(expected)
        assert r["loss"] == pytest.approx(sum(expected))
        assert r["error"] is None
    failed = rows[3]
    assert "loss" not in failed and "weights" not in failed
    assert failed["error"] == "ValueError: diverged at lr=0.2"
    assert "ARRAYS ['ndarray', 'ndarray', 'ndarray', 'NoneType']" in text
    job0 = json.loads(next(x for x in text.splitlines() if x.startswith("JOB0 "))[5:])
    assert job0 == {"loss": pytest.approx(0.3), "weights": pytest.approx([0.0, 0.3])}
    # %caliban_outputs copies every job's files (the failed one left only its manifest).
    assert outputs_text(nb.cells[5]).startswith("10 file(s) copied")
    names = [r["job"] for r in rows]
    assert sorted(p.name for p in (tmp_path / "got" / names[0] / "outputs").iterdir()) == [
        "loss.json", "manifest.json", "weights.npy"]
    failed_manifest = json.loads((tmp_path / "got" / names[3] / "outputs" /
                                  "manifest.json").read_text())
    assert failed_manifest["error"] == "ValueError: diverged at lr=0.2"

"""The capture on real notebooks (issue 21): a few notebooks of tests/data/corpus (those
manifest.json marks ``"test": true``) through the differential harness
(tests/support/differential.py): each late cell run in a kernel and, in a kernel that ran
the earlier cells, sent through ``%%caliban_cloud --dry_run --show_program``, its program
run on its own. Not one may print other text than the notebook; a refusal says why.

The whole corpus, with capture times and replayed statements: bench/bench_capture_corpus.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.differential import Sweep, differential

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "corpus"
SUBSET = [e for e in json.loads((CORPUS / "manifest.json").read_text())["notebooks"]
          if e.get("test")]


def test_the_subset_is_real_notebooks_with_their_licences():
    assert len(SUBSET) >= 3
    for entry in SUBSET:
        source = (CORPUS / entry["path"]).parent
        assert any(p.name.startswith(("LICENSE", "COPYING")) for p in source.iterdir()), source
        assert entry["path"].split("/")[1] in (CORPUS / "README.md").read_text()


def _case(entry: dict):
    # A notebook the capture gets wrong until issue 21's fix is merged: strict, so the
    # merge that fixes it fails here until its "fails_before" key leaves manifest.json.
    marks = [pytest.mark.xfail(reason=entry["fails_before"], strict=True)] \
        if entry.get("fails_before") else []
    return pytest.param(entry, marks=marks, id=Path(entry["path"]).stem)


@pytest.mark.parametrize("entry", [_case(e) for e in SUBSET])
def test_each_late_cell_prints_in_the_job_what_it_prints_in_the_notebook(entry, kernel_env):
    # One sweep per notebook at most: the suite stays quick; the bench runs them all.
    sweeps = [Sweep(s["cell"], s["name"], s["values"]) for s in entry.get("sweeps", [])[:1]]
    report = differential(CORPUS / entry["path"], python=sys.executable,
                          pythonpath=str(REPO), late=entry.get("late"), sweeps=sweeps)
    counts = report.counts()
    lines = [f"{c.status} cell {c.cell} {c.sweep or ''}: {c.message}\n  expected: "
             f"{c.expected!r}\n  got: {c.got[-500:]!r}" for c in report.cells
             if c.status != "same"]
    assert counts["different"] == 0, "\n".join(lines)
    assert counts["same"] >= 2, "\n".join(lines)  # a verdict on real cells, not only refusals
    for cell in report.cells:
        if cell.status == "refused":
            assert cell.message.strip(), cell
    if sweeps:
        assert [c.status for c in report.cells if c.sweep] == ["same"] * len(sweeps[0].values)

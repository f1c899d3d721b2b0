"""A search from a cell: ``%%caliban_cloud --tune space`` on the emulator (6 trials, 2 at
a time), its trials back as rows with the loss each one computed, the best the lowest; in
a real kernel (nbclient) against real Docker."""

from __future__ import annotations

import json

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

SPACE = """\
space = {"metric": "loss", "goal": "minimize", "trials": 6, "parallel": 2,
         "parameters": {"lr": {"min": 0.001, "max": 0.1, "scale": "log"},
                        "layers": {"min": 1, "max": 4, "type": "int"}}}
offset = 0.5
"""

SEARCH = """\
%%caliban_cloud --nogpu --tune space --xgroup kernel-tune -o penalty
penalty = 0.1 * layers
loss = (lr - 0.03) ** 2 + penalty + offset
"""

READ = """\
import json
sweep = _
rows = sweep.results(timeout=900, frame=False)
print("ROWS", json.dumps(rows))
print("BEST", json.dumps(sweep.best()))
print("SEARCH", json.dumps(sweep.search))
print("PLOT", type(sweep.plot()).__name__)
"""

NO_METRIC = """\
%%caliban_cloud --nogpu --tune space --dry_run
acc = lr * layers
"""

API = """\
import caliban_jupyter, json
planned = caliban_jupyter.cloud("loss = lr * layers + offset\\n", tune=space, nogpu=True,
                                dry_run=True)
body = planned.tuning_body()
print("API", json.dumps([body["maxTrialCount"], body["parallelTrialCount"],
                         [p["parameterId"] for p in body["studySpec"]["parameters"]],
                         planned.plan.request.program_parameters]))
"""


def test_a_search_from_a_cell_brings_its_trials_back(tmp_path, kernel_env):
    nb = notebook_of(
        "%load_ext caliban_jupyter\n%config Caliban.backend = 'local'",
        SPACE,
        NO_METRIC,
        API,
        "%%caliban_cloud --nogpu --tune spaces --dry_run\nloss = 1",
        SEARCH,
        READ,
        "%caliban_status --xgroup kernel-tune",
    )
    run_notebook(nb, tmp_path, allow_errors=True)
    refusal = outputs_text(nb.cells[2])
    assert "the search's metric 'loss' is never assigned by the cell (it assigns acc)" \
        in refusal
    assert 'API [6, 2, ["lr", "layers"], ["lr", "layers"]]' in outputs_text(nb.cells[3])
    assert "--tune spaces: no variable or file of that name" in outputs_text(nb.cells[4])
    text = outputs_text(nb.cells[6])
    lines = {x.split(" ", 1)[0]: x.split(" ", 1)[1] for x in text.splitlines()
             if x.split(" ", 1)[0] in ("ROWS", "BEST", "SEARCH", "PLOT")}
    rows = json.loads(lines["ROWS"])
    assert len(rows) == 6
    for r in rows:
        assert r["state"] == "SUCCEEDED", r
        assert 0.001 <= r["lr"] <= 0.1 and r["layers"] in (1, 2, 3, 4)
        # The loss each trial computed from the parameters it was given.
        assert r["loss"] == pytest.approx((r["lr"] - 0.03) ** 2 + 0.1 * r["layers"] + 0.5)
        assert r["penalty"] == pytest.approx(0.1 * r["layers"])  # its -o value
        assert r["error"] is None
        assert r["job"].split("/")[-2] == "customJobs"  # the trial's job, for its logs
    best = json.loads(lines["BEST"])
    assert best["loss"] == min(r["loss"] for r in rows) and best["best"] is True
    assert [r["trial"] for r in rows if r["best"]] == [best["trial"]]
    assert json.loads(lines["SEARCH"]) == {"metric": "loss", "goal": "MINIMIZE",
                                           "parameters": ["lr", "layers"]}
    assert lines["PLOT"] == "Figure"
    status = outputs_text(nb.cells[7])
    assert status.count(" SUCCEEDED ") >= 7  # the tuning job and its 6 trials
    assert f"*{best['trial']}" in status

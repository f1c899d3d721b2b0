"""Cost after a sweep, in a real kernel against the emulator and Docker: a 2-job sweep
priced as the machine it names; once it finished, `sweep.results()` has each job's cost,
consistent with its run time."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from caliban_jupyter.spec.prices import get_prices

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

SWEEP = """\
%%caliban_cloud --nogpu --machine_type n1-standard-4 --experiment_config grid --xgroup kernel-cost
import time
time.sleep(naps)
"""

READ = """\
import json
sweep = _
rows = sweep.results(timeout=600, frame=False)
print("ROWS", json.dumps(rows))
print("JOBS", json.dumps([{"job": r.display_name, "started": r.started, "ended": r.ended,
                           "machine": dict(r.machine), "region": r.region}
                          for r in sweep.group.records]))
"""


def _time(text):
    """An RFC 3339 time (nanoseconds cut to micro) as a datetime."""
    return dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00"))


def test_two_jobs_cost_their_run_time_at_their_machines_rate(tmp_path, kernel_env):
    nb = notebook_of(
        "%load_ext caliban_jupyter\n%config Caliban.backend = 'local'",
        "grid = {'naps': [1, 3]}",
        SWEEP,
        READ,
    )
    run_notebook(nb, tmp_path)
    text = outputs_text(nb.cells[3])
    rows = json.loads(next(x for x in text.splitlines() if x.startswith("ROWS "))[5:])
    jobs = {j["job"]: j for j in json.loads(
        next(x for x in text.splitlines() if x.startswith("JOBS "))[5:])}
    rate = get_prices().machine("us-central1", "n1-standard-4").usd_per_hour
    assert [(r["naps"], r["state"]) for r in rows] == [(1, "SUCCEEDED"), (3, "SUCCEEDED")]
    for row in rows:
        job = jobs[row["job"]]
        assert job["machine"] == {"machineType": "n1-standard-4"}
        assert job["region"] == "us-central1"
        seconds = int((_time(job["ended"]) - _time(job["started"])).total_seconds())
        assert seconds >= row["naps"]  # it slept that long, at least
        assert row["cost_usd"] == pytest.approx(rate * seconds / 3600, abs=1e-6)
    assert rows[1]["cost_usd"] > rows[0]["cost_usd"] > 0


def test_a_sweep_above_max_cost_is_refused_when_the_kernel_cannot_ask(tmp_path, kernel_env):
    # nbclient gives the kernel no stdin: input() cannot ask, so nothing is submitted.
    nb = notebook_of(
        "%load_ext caliban_jupyter\n%config Caliban.backend = 'local'\n"
        "%config Caliban.max_cost = 5",
        "%%caliban_cloud --gpu_spec 8xA100 --timeout 1h --xgroup kernel-dear\nprint(1)",
        "from caliban_jupyter.history import History\n"
        "with History() as h:\n    print('RECORDED', h.group('kernel-dear'))",
    )
    run_notebook(nb, tmp_path, allow_errors=True)
    error = outputs_text(nb.cells[1])
    assert "UsageError: refusing to submit a sweep above max_cost without confirmation: " \
           "nobody can answer here; raise max_cost" in error, error
    assert "Traceback" not in error
    assert "RECORDED None" in outputs_text(nb.cells[2])

"""A tuning trial's metric, reported by the job-side runner as cloudml-hypertune does."""

from __future__ import annotations

import json
import subprocess
import sys

from caliban_jupyter.packaging.jobfiles import caliban_outputs as job


def run(tmp_path, program: str, *args: str, metric="loss", existing: str | None = None):
    prog = tmp_path / "prog.py"
    prog.write_text(program)
    metrics = tmp_path / "hp" / "output.metrics"
    if existing is not None:
        metrics.parent.mkdir()
        metrics.write_text(existing)
    env = {"CLOUD_ML_HP_METRIC_FILE": str(metrics), "CLOUD_ML_TRIAL_ID": "7", "PATH": ""}
    done = subprocess.run([sys.executable, job.__file__, "--metric", metric, str(prog), *args],
                          env=env, capture_output=True, text=True, timeout=60)
    lines = metrics.read_text().splitlines() if metrics.exists() else []
    return done, [json.loads(line) for line in lines]


def test_the_programs_variable_becomes_the_trials_measurement(tmp_path):
    done, lines = run(tmp_path, "import sys\nlr = float(sys.argv[1].split('=')[1])\n"
                                "loss = (lr - 0.3) ** 2\n", "--lr=0.5")
    assert done.returncode == 0, done.stderr
    [entry] = lines
    assert entry["loss"] == str((0.5 - 0.3) ** 2)
    assert (entry["trial"], entry["global_step"]) == ("7", "0")


def test_a_metric_never_assigned_fails_the_trial_with_the_reason(tmp_path):
    done, lines = run(tmp_path, "accuracy = 0.9\n")
    assert done.returncode == 1 and lines == []
    assert "the tuning metric 'loss' was never assigned" in done.stderr


def test_a_metric_that_is_not_a_number_fails_the_trial(tmp_path):
    done, _ = run(tmp_path, "loss = 'low'\n")
    assert done.returncode == 1 and "is a str, not a number" in done.stderr
    done, _ = run(tmp_path, "loss = float('nan')\n")
    assert done.returncode == 1 and "no usable value" in done.stderr


def test_the_users_own_hypertune_report_stands(tmp_path):
    own = json.dumps({"global_step": "100", "loss": "0.25", "timestamp": 1.0, "trial": "7"})
    done, lines = run(tmp_path, "print('reported with hypertune')\n", existing=own + "\n")
    assert done.returncode == 0, done.stderr
    assert [e["loss"] for e in lines] == ["0.25"]

"""`caliban cloud --tune` from a terminal, on the emulator with real Docker: the script's
variable is the metric (no reporting code), `caliban status` lists the trials with the best
marked, and `caliban stop` cancels a running search."""

from __future__ import annotations

import json
import os
import re

import pytest
from support import caliban, wait_for

pytestmark = pytest.mark.docker

TRAIN = """\
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--layers", type=int)
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
time.sleep(a.sleep)
loss = (a.lr - 0.02) ** 2 + a.layers
"""

SPACE = {"metric": "loss", "goal": "minimize", "trials": 4, "parallel": 2,
         "algorithm": "random",
         "parameters": {"lr": {"min": 0.001, "max": 0.1, "scale": "log"},
                        "layers": {"min": 1, "max": 3, "type": "int"}}}


@pytest.fixture
def search_project(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.json").write_text("// four trials\n" + json.dumps(SPACE))
    return tmp_path


ENV = {"CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE", ""),
       "CALIBAN_BACKEND": "local"}


def test_a_search_from_the_cli_and_its_trials_in_status(search_project):
    r = caliban(search_project, "cloud", "--nogpu", "--tune", "space.json", "--xgroup",
                "cli-tune-1", "train.py", env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr

    def finished() -> str | None:
        s = caliban(search_project, "status", "--xgroup", "cli-tune-1", env=ENV)
        return s.stdout if re.search(r"_1 +SUCCEEDED", s.stdout) else None

    text = wait_for(finished, timeout=600, interval=2, what="the search to end")
    trials = re.findall(r"^ +(\*?)(\d+) +(\w+) +(\S+) +lr=(\S+) layers=(\d+)$", text, re.M)
    assert len(trials) == 4, text
    losses = []
    for _, _, state, loss, lr, layers in trials:
        assert state == "SUCCEEDED"
        assert float(loss) == pytest.approx((float(lr) - 0.02) ** 2 + int(layers), rel=1e-5)
        losses.append(float(loss))
    (best,) = [t for t in trials if t[0] == "*"]
    assert float(best[3]) == min(losses)


def test_stop_cancels_a_running_search(search_project):
    r = caliban(search_project, "cloud", "--nogpu", "--tune", "space.json", "--xgroup",
                "cli-tune-stop", "train.py", "--", "--sleep", "300", env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    stop = caliban(search_project, "stop", "--xgroup", "cli-tune-stop", "--yes", env=ENV)
    assert stop.returncode == 0, stop.stderr
    assert "asked 1 job(s) of group 'cli-tune-stop' to stop" in stop.stderr + stop.stdout

    def cancelled() -> str | None:
        s = caliban(search_project, "status", "--xgroup", "cli-tune-stop", env=ENV)
        return s.stdout if re.search(r"_1 +CANCELLED", s.stdout) else None

    wait_for(cancelled, timeout=120, interval=2, what="the search cancelled")


def test_stop_and_logs_by_the_tuning_jobs_name(search_project):
    r = caliban(search_project, "cloud", "--nogpu", "--tune", "space.json", "--xgroup",
                "cli-tune-name", "--name", "search", "train.py", "--", "--sleep", "300",
                env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    name = re.search(r"^(search_\S+_1) ", r.stdout, re.M).group(1)
    stop = caliban(search_project, "stop", name, "--yes", env=ENV)
    assert stop.returncode == 0, stop.stderr

    def cancelled() -> str | None:
        s = caliban(search_project, "status", "--xgroup", "cli-tune-name", env=ENV)
        return s.stdout if re.search(rf"{name} +CANCELL", s.stdout) else None

    wait_for(cancelled, timeout=120, interval=2, what="the search cancelled")
    logs = caliban(search_project, "logs", name, env=ENV)
    assert logs.returncode == 0, logs.stderr
    assert "cancelled" in logs.stdout

"""`caliban cloud` end to end, as a user runs it: real engine, real registry, the emulator
auto-started by the local backend, reached through the real google-cloud-aiplatform client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.docker

TRAIN = """\
import argparse, sys
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--seed", type=int)
p.add_argument("--epochs", type=int)
p.add_argument("--fail", type=int, default=0)
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
print(f"training lr={a.lr} seed={a.seed} epochs={a.epochs}", flush=True)
if a.sleep:
    import time; time.sleep(a.sleep)
if a.fail:
    print("diverged", file=sys.stderr)
    sys.exit(a.fail)
"""


@pytest.fixture
def env(tmp_path, base_image, registry):
    home = tmp_path / "home"
    e = dict(os.environ, CALIBAN_HOME=str(home), CALIBAN_BASE_IMAGE=base_image,
             NO_GCE_CHECK="true", NO_PROXY="127.0.0.1,localhost")
    for k in ("PROJECT_ID", "CALIBAN_BACKEND", "CALIBAN_REGISTRY", "CALIBAN_ENDPOINT"):
        e.pop(k, None)
    yield e
    subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "emulator", "stop"], env=e,
                   capture_output=True, timeout=60)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "train.py").write_text(TRAIN)
    (root / "exp.json").write_text('{"lr": [0.1, 0.01], "seed": [1, 2]}')
    return root


def caliban(project, env, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", *args], cwd=project,
                       env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def wait_terminal(project, env, xgroup, deadline=180):
    end = time.monotonic() + deadline
    while True:
        r = caliban(project, env, "status", "--xgroup", xgroup, "--format", "json")
        records = json.loads(r.stdout)
        if records and all(rec["state"] in ("SUCCEEDED", "FAILED", "CANCELLED")
                           for rec in records):
            return records
        assert time.monotonic() < end, f"jobs did not finish: {records}"
        time.sleep(1)


def test_sweep_builds_pushes_runs_and_succeeds(project, env, registry):
    repo = f"{registry}/e2e"
    r = caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--registry", repo,
                "--xgroup", "e2e-sweep", "--experiment_config", "exp.json", "--format", "json",
                "trainer.train", "--", "--epochs", "2")
    submitted = json.loads(r.stdout)
    assert len(submitted) == 4
    assert "started the local Vertex emulator" in r.stderr
    # stderr is a pipe here, not a terminal: plain lines, no redrawn progress bars. (The
    # registry outlives test runs, so whether this run builds varies: jobs always go out.)
    assert "\r" not in r.stderr and "submit:" not in r.stderr
    assert sum(ln.startswith("submitted caliban_") for ln in r.stderr.splitlines()) == 4
    image = submitted[0]["image_uri"]
    assert image.startswith(f"{repo}/caliban-trainer:")
    with urllib.request.urlopen(f"http://{registry}/v2/e2e/caliban-trainer/tags/list",
                                timeout=10) as resp:
        assert image.rsplit(":", 1)[1] in json.load(resp)["tags"]

    records = wait_terminal(project, env, "e2e-sweep")
    assert sorted(rec["state"] for rec in records) == ["SUCCEEDED"] * 4
    expected = {("0.1", "1"), ("0.1", "2"), ("0.01", "1"), ("0.01", "2")}
    seen = set()
    for rec in records:
        assert rec["args"][:2] == ["--epochs", "2"]
        log = caliban(project, env, "logs", rec["display_name"], "--xgroup", "e2e-sweep").stdout
        lr, seed = rec["args"][rec["args"].index("--lr") + 1], rec["args"][
            rec["args"].index("--seed") + 1]
        assert f"training lr={float(lr)} seed={seed} epochs=2" in log
        seen.add((lr, seed))
    assert seen == expected

    # Unchanged code: the second submission neither builds nor pushes.
    r = caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--registry", repo,
                "--xgroup", "e2e-again", "trainer.train")
    assert "already up to date" in r.stderr
    assert "step 1/" not in r.stderr


def test_failing_program_ends_failed_with_its_status_and_log(project, env):
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-fail",
            "trainer.train", "--", "--fail", "3")
    (rec,) = wait_terminal(project, env, "e2e-fail")
    assert rec["state"] == "FAILED"
    assert "3" in rec["error"]
    # The reason is in the status table too, under the job's row.
    table = caliban(project, env, "status", "--xgroup", "e2e-fail").stdout.splitlines()
    row = next(i for i, ln in enumerate(table) if rec["display_name"] in ln)
    assert "FAILED" in table[row]
    assert table[row + 1].split() == ["error:", *rec["error"].split()]
    log = caliban(project, env, "logs", rec["display_name"], "--xgroup", "e2e-fail").stdout
    assert "diverged" in log


def test_stop_cancels_a_running_job(project, env):
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-stop",
            "trainer.train", "--", "--sleep", "120")
    end = time.monotonic() + 120
    while True:
        (rec,) = json.loads(caliban(project, env, "status", "--xgroup", "e2e-stop",
                                    "--format", "json").stdout)
        if rec["state"] == "RUNNING":
            break
        assert time.monotonic() < end, rec
        time.sleep(0.5)
    caliban(project, env, "stop", "--xgroup", "e2e-stop", "--yes")
    (rec,) = wait_terminal(project, env, "e2e-stop", deadline=60)
    assert rec["state"] == "CANCELLED"


def test_a_notebook_runs_as_a_job(project, env):
    """A notebook runs in a kernel in the job: magics and `!` lines run (they were dropped
    when notebooks were flattened into scripts), and every parameter, from the experiment
    or after `--`, overrides the notebook's value for all later cells (papermill's rule)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("height = 1  # default, overridden per job")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_code_cell("%env MODE=job\nwidth = 3"),
        params,
        nbformat.v4.new_markdown_cell("# not code"),
        nbformat.v4.new_code_cell("area = width * height\n!echo shell lines run in $MODE\n"
                                  "print('area', area)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, project / "analysis.ipynb")
    (project / "params.json").write_text('{"height": [2, 5]}')
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-nb",
            "--experiment_config", "params.json", "analysis.ipynb", "--", "--width", "4")
    records = wait_terminal(project, env, "e2e-nb")
    assert [rec["state"] for rec in records] == ["SUCCEEDED"] * 2
    logs = [caliban(project, env, "logs", rec["display_name"], "--xgroup", "e2e-nb").stdout
            for rec in records]
    assert sorted(line for log in logs for line in log.splitlines()
                  if line.startswith("area ")) == ["area 20", "area 8"]
    assert all("shell lines run in job" in log for log in logs)

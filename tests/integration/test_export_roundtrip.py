"""Round trip: a notebook exported with `caliban export`, submitted from its directory,
runs the same jobs with the same results as the notebook submitted itself (real engine,
registry and emulator, through the real SDK)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .test_cloud_e2e import caliban, wait_terminal

pytestmark = pytest.mark.docker

HELPERS = """\
import math


def score(lr, seed, epochs):
    return round(sum(math.sin(lr * 10 + seed + e) for e in range(epochs)), 6)
"""


@pytest.fixture
def env(tmp_path, base_image, registry):
    """As a user's shell: a private CALIBAN_HOME, the local base image, no Google."""
    e = dict(os.environ, CALIBAN_HOME=str(tmp_path / "home"), CALIBAN_BASE_IMAGE=base_image,
             NO_GCE_CHECK="true", NO_PROXY="127.0.0.1,localhost")
    for k in ("PROJECT_ID", "CALIBAN_BACKEND", "CALIBAN_REGISTRY", "CALIBAN_ENDPOINT"):
        e.pop(k, None)
    yield e
    subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "emulator", "stop"], env=e,
                   capture_output=True, timeout=60)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "helpers.py").write_text(HELPERS)
    (root / "exp.json").write_text('// the sweep\n{"lr": [0.1, 0.5], "seed": [1, 2]}\n')
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("lr = 0.01\nseed = 0\nepochs = 1")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A sweep"),
        nbformat.v4.new_code_cell("%precision 3\nimport helpers"),
        parameters,
        nbformat.v4.new_code_cell("!echo shell lines stay in the notebook\n"
                                  "value = helpers.score(lr, seed, epochs)\n"
                                  "print('RESULT', lr, seed, epochs, value)"),
    ]
    nbformat.write(nb, root / "analysis.ipynb")
    return root


def results(project: Path, env: dict, xgroup: str) -> dict[tuple[str, ...], str]:
    """Each job's arguments -> the RESULT line of its log."""
    records = wait_terminal(project, env, xgroup, deadline=300)
    assert [r["state"] for r in records] == ["SUCCEEDED"] * len(records), records
    out = {}
    for record in records:
        log = caliban(project, env, "logs", record["display_name"], "--xgroup", xgroup).stdout
        lines = re.findall(r"^RESULT .*$", log, re.M)
        assert len(lines) == 1, log
        out[tuple(record["args"])] = lines[0]
    return out


def test_an_exported_notebook_runs_the_same_jobs_with_the_same_results(project, env):
    flags = ["--nogpu", "--experiment_config", "exp.json"]
    caliban(project, env, "cloud", "--backend", "local", "--xgroup", "rt-notebook", *flags,
            "analysis.ipynb", "--", "--epochs", "3")
    r = caliban(project, env, "export", *flags, "analysis.ipynb", "--to", "job", "--",
                "--epochs", "3")
    assert "copied the local modules it imports: helpers.py" in r.stdout
    job = project / "job"
    assert json.loads((job / ".calibanconfig.json").read_text())["args"] == ["--epochs", "3"]

    # As a reader of the directory would: its own script, from anywhere, no notebook.
    (project / "analysis.ipynb").unlink()
    (project / "helpers.py").unlink()
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    submitted = subprocess.run(["bash", str(job / "submit.sh"), "--backend", "local",
                                "--xgroup", "rt-export"], cwd="/", env=dict(env, PATH=path),
                               capture_output=True, text=True, timeout=600)
    assert submitted.returncode == 0, submitted.stderr

    from_notebook = results(project, env, "rt-notebook")
    from_export = results(project, env, "rt-export")
    assert len(from_notebook) == 4
    assert from_export == from_notebook
    assert from_notebook[("--epochs", "3", "--lr", "0.5", "--seed", "2")] == \
        f"RESULT 0.5 2 3 {round(sum(__import__('math').sin(7 + e) for e in range(3)), 6)}"

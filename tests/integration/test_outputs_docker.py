"""Outputs on the local emulator, end to end as a user runs `caliban`: the job's output
location mounted at Vertex's /gcs/ path with Vertex's AIP_* variables, -o values from a
script, executed notebooks (also when a cell fails), and `caliban outputs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import nbformat
import pytest

from .test_cloud_e2e import caliban, wait_terminal

pytestmark = pytest.mark.docker


@pytest.fixture
def env(tmp_path, base_image, registry):
    e = dict(os.environ, CALIBAN_HOME=str(tmp_path / "home"), CALIBAN_BASE_IMAGE=base_image,
             NO_GCE_CHECK="true", NO_PROXY="127.0.0.1,localhost")
    for k in ("PROJECT_ID", "CALIBAN_BACKEND", "CALIBAN_REGISTRY", "CALIBAN_ENDPOINT",
              "CALIBAN_OUTPUT_DIR"):
        e.pop(k, None)
    yield e
    subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "emulator", "stop"], env=e,
                   capture_output=True, timeout=60)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    return root

SCRIPT = """\
import json, os
model = os.environ["AIP_MODEL_DIR"]
print("ENV", json.dumps({k: os.environ[k] for k in (
    "AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR")}))
# Vertex jobs reach gs:// through the Cloud Storage FUSE mount at /gcs/.
path = model.replace("gs://", "/gcs/", 1)
with open(os.path.join(path, "weights.txt"), "w") as f:
    f.write("trained")
loss = 0.25
"""


def test_script_writes_through_the_gcs_mount_and_values_come_back(project, env, tmp_path):
    (project / "fit.py").write_text(SCRIPT)
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-out",
            "-o", "loss", "fit.py")
    (rec,) = wait_terminal(project, env, "e2e-out")
    assert rec["state"] == "SUCCEEDED", rec
    name = rec["display_name"]
    base = f"gs://caliban-local/e2e-out/{name}/"
    assert rec["request"]["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": base}
    log = caliban(project, env, "logs", name, "--xgroup", "e2e-out").stdout
    env_line = next(line for line in log.splitlines() if line.startswith("ENV "))
    assert json.loads(env_line[4:]) == {"AIP_MODEL_DIR": base + "model/",
                                        "AIP_CHECKPOINT_DIR": base + "checkpoints/",
                                        "AIP_TENSORBOARD_LOG_DIR": base + "logs/"}
    dest = tmp_path / "got"
    r = caliban(project, env, "outputs", "--xgroup", "e2e-out", "--dest", str(dest))
    assert (dest / name / "model" / "weights.txt").read_text() == "trained"
    assert json.loads((dest / name / "outputs" / "loss.json").read_text()) == 0.25
    assert r.stdout.startswith("3 file(s) copied")  # weights.txt, loss.json, manifest
    r = caliban(project, env, "outputs", "--xgroup", "e2e-out", "--dest", str(dest))
    assert r.stdout.startswith("0 file(s) copied (0.0 MB), 3 already there")


def test_a_local_output_dir_is_used_as_it_is(project, env):
    (project / "fit.py").write_text(SCRIPT)
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-dir",
            "--output_dir", "results", "-o", "loss", "fit.py")
    (rec,) = wait_terminal(project, env, "e2e-dir")
    assert rec["state"] == "SUCCEEDED", rec
    where = project / "results" / "e2e-dir" / rec["display_name"]
    assert (where / "model" / "weights.txt").read_text() == "trained"
    manifest = json.loads((where / "outputs" / "manifest.json").read_text())
    assert manifest["outputs"]["loss"]["serializer"] == "json"


def test_a_notebook_whose_second_cell_fails_comes_back_executed(project, env, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('first cell ran', 6 * 7)"),
        nbformat.v4.new_code_cell("raise ValueError('bad batch')"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, project / "report.ipynb")
    caliban(project, env, "cloud", "--backend", "local", "--nogpu", "--xgroup", "e2e-nbfail",
            "report.ipynb")
    (rec,) = wait_terminal(project, env, "e2e-nbfail")
    assert rec["state"] == "FAILED"
    log = caliban(project, env, "logs", rec["display_name"], "--xgroup", "e2e-nbfail").stdout
    assert "first cell ran 42" in log and "ValueError: bad batch" in log  # streamed
    dest = tmp_path / "got"
    r = caliban(project, env, "outputs", "--xgroup", "e2e-nbfail", "--dest", str(dest))
    path = dest / f"{rec['display_name']}.ipynb"
    assert f"executed notebook: {path}" in r.stdout, r.stdout
    executed = nbformat.read(path, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", [])]
    assert code[0].outputs[0]["text"] == "first cell ran 42\n"
    assert (code[1].outputs[0]["ename"], code[1].outputs[0]["evalue"]) == (
        "ValueError", "bad batch")
    assert code[1].metadata["caliban"] == {"failed": True}
    assert not code[2].get("outputs")
    assert "An exception was encountered" in executed.cells[0].source
    # The job table links the emulator's page for it, which serves the same notebook.
    assert rec["request"]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"] == [
        {"name": "CALIBAN_NOTEBOOK", "value": "report.ipynb"}]
    with urllib.request.urlopen(rec["url"] + "/notebook", timeout=10) as answer:
        assert answer.read() == path.read_bytes()
    with urllib.request.urlopen(rec["url"], timeout=10) as answer:
        assert b"executed notebook</a>" in answer.read()
    manifest = json.loads((dest / rec["display_name"] / "outputs" / "manifest.json")
                          .read_text())
    assert manifest["error"] == "In [2]: ValueError: bad batch"

"""A third job service, registered the way another package would: an entry point in the
group ``caliban_jupyter.backends`` of an installed distribution's metadata.

The distribution is a ``*.dist-info`` directory on the path (no file of caliban-jupyter
changes); its service is the suite's in-memory fake (:class:`support.fakes.PluginBackend`,
one per process). Every front end then offers it and submits to it: the CLI, the magic in
a real kernel, the Python API, the REST API, the widget form's choices and the REST
catalog the lab dialog renders its choices from.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support import wait_for

TESTS = Path(__file__).resolve().parents[1]
TRAIN = "print('trained')\n"


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> dict[str, str]:
    """The plug-in installed for this process and its children; returns their env."""
    site = tmp_path / "plugin-site"
    info = site / "caliban_fake_service-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: caliban-fake-service\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[caliban_jupyter.backends]\nfake = support.fakes:PluginBackend\n")
    monkeypatch.syspath_prepend(str(site))  # invalidates importlib's metadata caches
    path = os.pathsep.join([str(site), str(TESTS), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path.rstrip(os.pathsep))
    return {**os.environ}


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    monkeypatch.chdir(work)
    return work


def _recorded(xgroup: str) -> list:
    from caliban_jupyter.history import History

    with History() as history:
        group = history.group(xgroup)
        return [group, history.jobs(xgroup)] if group is not None else []


def test_every_choice_list_offers_the_plugin(plugin, work):
    from caliban_jupyter.service.backends import backend_names
    from caliban_jupyter.widgets.form import CalibanForm

    assert backend_names() == ("vertex", "local", "fake")
    form = CalibanForm("train.py", cwd=str(work))
    assert ("fake (fake job service)", "fake") in form.backend.options
    help_text = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--help"],
                               capture_output=True, text=True, env=plugin, timeout=60).stdout
    assert "{vertex,local,fake}" in help_text


def test_the_cli_submits_to_the_plugin(plugin, work):
    (work / "exp.json").write_text('{"lr": [0.1, 0.2]}')
    done = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend",
                           "fake", "--nogpu", "--xgroup", "plugin-cli", "--experiment_config",
                           "exp.json", "train.py"], cwd=work, capture_output=True,
                          text=True, env=plugin, timeout=120)
    assert done.returncode == 0, done.stderr
    group, jobs = _recorded("plugin-cli")
    assert (group.backend, group.project) == ("fake", "fake-project")
    assert [(j.backend, j.state, j.args) for j in jobs] == [
        ("fake", "QUEUED", ("--lr", "0.1")), ("fake", "QUEUED", ("--lr", "0.2"))]
    # It ran as a code package staged in the plug-in's own staging directory.
    pool = jobs[0].request["jobSpec"]["workerPoolSpecs"][0]
    assert pool["pythonPackageSpec"]["packageUris"][0].startswith("file://")


def test_an_unknown_backend_names_the_installed_ones(plugin, work):
    done = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend",
                           "mars", "--nogpu", "train.py"], cwd=work, capture_output=True,
                          text=True, env=plugin, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice: 'mars' (choose from 'vertex', 'local', 'fake')" in done.stderr


def test_the_api_submits_to_the_plugin(plugin, work):
    import caliban_jupyter

    sweep = caliban_jupyter.cloud("train.py", backend="fake", nogpu=True, xgroup="plugin-api",
                                  progress=lambda event: None)
    assert sweep.group.xgroup == "plugin-api"
    records = sweep.group.refresh()
    assert [(r.backend, r.state) for r in records] == [("fake", "QUEUED")]
    group, _ = _recorded("plugin-api")
    assert group.backend == "fake"


def test_the_magic_submits_to_the_plugin(plugin, work):
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell('%load_ext caliban_jupyter\n%config Caliban.backend = "fake"'),
        new_code_cell("%%caliban_cloud --nogpu --xgroup plugin-magic\nprint('trained')"),
        new_code_cell("sweep = _\nprint('BACKEND', [r.backend for r in sweep.group.refresh()])"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
    assert "BACKEND ['fake']" in printed
    group, jobs = _recorded("plugin-magic")
    assert group.backend == "fake" and [j.state for j in jobs] == ["QUEUED"]


async def test_the_rest_api_submits_to_the_plugin(plugin, api, jp_root_dir):
    status, catalog = await api("GET", "catalog")
    assert status == 200
    assert {"name": "fake", "title": "fake job service", "needs_project": False,
            "build_modes": ["package"]} in catalog["backends"]
    assert [b["name"] for b in catalog["backends"]] == ["vertex", "local", "fake"]

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('trained')")])
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    status, reply = await api("POST", "submissions", body={
        "notebook": "nb.ipynb", "options": {"backend": "fake", "nogpu": True,
                                            "xgroup": "plugin-rest"}})
    assert status == 202, reply

    async def listed():
        for _ in range(600):
            code, body = await api("GET", "groups", "plugin-rest")
            if code == 200 and body.get("jobs") and body["jobs"][0].get("resource_name"):
                return body
            await asyncio.sleep(0.2)
        raise AssertionError("the group never listed its submitted job")

    body = await listed()
    assert body["backend"] == "fake"
    assert [(j["backend"], j["state"]) for j in body["jobs"]] == [("fake", "QUEUED")]
    assert json.dumps(body)  # plain JSON all the way
    assert wait_for(lambda: _recorded("plugin-rest"), what="the recorded group")

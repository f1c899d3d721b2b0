"""`jupyter nbconvert --to caliban` and JupyterLab's "Save and Export Notebook As", as
installed: the exporter is found through its `nbconvert.exporters` entry point in the
environment running the tests (scripts/test.sh installs the package there)."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory) -> str:
    """The environment's `jupyter` command, with the caliban exporter registered."""
    # Asked from elsewhere than the repository, as the commands below run.
    names = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m\nprint(sorted(e.name for e in "
         "m.entry_points(group='nbconvert.exporters')))"],
        cwd=tmp_path_factory.mktemp("elsewhere"), capture_output=True, text=True, check=True,
        timeout=120).stdout
    if "'caliban'" not in names:
        pytest.fail("the caliban nbconvert exporter is not registered in this environment: "
                    "reinstall the package (pip install -e '.[dev]')", pytrace=False)
    command = BIN / "jupyter"
    if not command.is_file():
        pytest.fail(f"no {command}: install nbconvert (pip install -e '.[dev]')",
                    pytrace=False)
    return str(command)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "helpers.py").write_text("def twice(x):\n    return 2 * x\n")
    (tmp_path / "exp.json").write_text('{"n": [1, 2]}')
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("n = 0")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("import helpers"), parameters,
                nbformat.v4.new_code_cell("print('RESULT', helpers.twice(n))")]
    nbformat.write(nb, tmp_path / "analysis.ipynb")
    return tmp_path


def run(cwd, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PROJECT_ID", "CALIBAN_BACKEND")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_nbconvert_to_caliban_writes_the_job_directory_as_a_zip(project, jupyter):
    r = run(project, jupyter, "nbconvert", "--to", "caliban", "analysis.ipynb",
            "--CalibanExporter.flags=--nogpu --experiment_config exp.json")
    assert r.returncode == 0, r.stderr
    files = unzip((project / "analysis.zip").read_bytes())
    assert sorted(files) == ["analysis/.calibanconfig.json", "analysis/experiment.json",
                             "analysis/helpers.py", "analysis/main.py",
                             "analysis/requirements.txt", "analysis/submit.sh"]
    assert json.loads(files["analysis/.calibanconfig.json"]) == {
        "nogpu": True, "experiment_config": "experiment.json"}

    # The same directory as `caliban export` writes (apart from the export's time).
    r = run(project, sys.executable, "-m", "caliban_jupyter.cli", "export", "--nogpu",
            "--experiment_config", "exp.json", "analysis.ipynb", "--to", "job")
    assert r.returncode == 0, r.stderr
    def undated(data: bytes) -> bytes:
        return re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", b"DATE", data)

    for name, data in files.items():
        written = (project / "job" / name.split("/", 1)[1]).read_bytes()
        assert undated(data) == undated(written), name

    # And it runs: unzipped anywhere, main.py takes the job's parameters.
    out = project / "unzipped"
    with zipfile.ZipFile(project / "analysis.zip") as archive:
        archive.extractall(out)
    done = subprocess.run([sys.executable, "main.py", "--n", "21"], cwd=out / "analysis",
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "RESULT 42\n"


def test_help_all_lists_the_caliban_format(jupyter, tmp_path):
    r = run(tmp_path, jupyter, "nbconvert", "--help-all")
    assert r.returncode == 0, r.stderr
    formats = [line for line in r.stdout.splitlines() if "'asciidoc'" in line]
    assert formats and all("'caliban'" in line for line in formats), formats


def test_a_notebook_that_cannot_be_exported_fails_with_the_reason(project, jupyter):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("files = !ls"),
                                         nbformat.v4.new_code_cell("print(files)")])
    nbformat.write(nb, project / "shell.ipynb")
    r = run(project, jupyter, "nbconvert", "--to", "caliban", "shell.ipynb")
    assert r.returncode == 1
    assert ("caliban: cannot export shell.ipynb as a Python program:\n  - cell 2, line 1 "
            "(`print(files)`) uses `files`") in r.stderr
    assert not (project / "shell.zip").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> urllib.request.addinfourl:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 (loopback)


def test_jupyter_server_lists_it_and_serves_the_zip(project, jupyter):
    """What JupyterLab's "Save and Export Notebook As" menu uses: the list of exporters,
    then the download of the notebook in the chosen format."""
    try:
        import jupyter_server  # noqa: F401
    except ImportError:
        pytest.fail("jupyter_server is not installed: pip install -e '.[ui]'", pytrace=False)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(project / "server.log", "w+")  # noqa: SIM115 (read when the server died)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={project}", "--ServerApp.ip=127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, JUPYTER_CONFIG_DIR=str(project / ".jupyter-config")))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with _get(f"{base}/api/nbconvert", token) as response:
                    exporters = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (project / "server.log").read_text()
                assert time.monotonic() < deadline, "jupyter server did not start"
                time.sleep(0.5)
        assert exporters["caliban"] == {"output_mimetype": "application/zip"}
        with _get(f"{base}/nbconvert/caliban/analysis.ipynb?download=true", token) as response:
            assert response.headers["Content-Type"] == "application/zip; charset=utf-8"
            assert "analysis.zip" in response.headers["Content-Disposition"]
            files = unzip(response.read())
        assert "analysis/main.py" in files and "analysis/helpers.py" in files
        assert b"print('RESULT', helpers.twice(n))" in files["analysis/main.py"]
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def test_the_exporter_module_loads_nothing_of_the_pipeline():
    """nbconvert imports every registered exporter to list them: ours must be cheap."""
    code = ("import sys, nbconvert.exporters.exporter\nbefore = set(sys.modules)\n"
            "import caliban_jupyter.notebook.nbconvert\n"
            "print(sorted(set(sys.modules) - before))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=True)
    # The notebook package's __init__ is its docstring alone.
    assert r.stdout.strip() == ("['caliban_jupyter', 'caliban_jupyter.notebook', "
                                "'caliban_jupyter.notebook.nbconvert']")

"""%caliban_export in a real kernel: the last %%caliban_cloud cell, or this cell, becomes a
job directory that plans and runs like the cell (no Docker: planned with --dry_run)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = pytest.mark.kernel

CELLS = {
    "load": "%load_ext caliban_jupyter\n%config Caliban.backend = 'local'",
    "defs": "import math\n%env EXPORT_DEMO=1\ndef root(x):\n    return math.sqrt(x)\n"
            "unused = 5",
    "grid": "grid = {'x': [4, 9]}",
    "submit": "%%caliban_cloud --nogpu --experiment_config grid --dry_run -l team=a\n"
              "print('RESULT', root(x))",
    "export": "%caliban_export out",
    "again": "%caliban_export out",
    "forced": "%caliban_export out --force --name forced",
    "cell": "%caliban_export cell_job --cell --nogpu\nprint('RESULT', root(16))",
    "body": "%%caliban_export body_job --nogpu\nprint('RESULT', root(25))",
    "shell": "listing = !ls",
    "uncapturable": "%%caliban_export bad_job --nogpu\nprint(listing)",
    "refused_flag": "%caliban_export bad_job --xgroup g",
}
IN = {name: number for number, name in enumerate(CELLS, start=1)}  # nbclient runs in order


@pytest.fixture(scope="module")
def executed(kernel_env, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("export")
    nb = run_notebook(notebook_of(*CELLS.values()), cwd, allow_errors=True)
    return cwd, {name: outputs_text(cell) for name, cell in zip(CELLS, nb.cells, strict=True)}


def dry_run_args(cwd):
    r = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--dry_run",
                        "--format", "json", "--backend", "local", "--image_tag", "img:1",
                        "main.py"], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [(b["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"], b["labels"]["team"])
            for b in json.loads(r.stdout)["jobs"]]


def run_main(cwd, *args):
    return subprocess.run([sys.executable, "main.py", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=True).stdout


def test_the_last_caliban_cloud_cell_is_exported_with_its_flags(executed):
    cwd, out = executed
    assert "exported a job directory to out" in out["export"], out["export"]
    job = cwd / "out"
    config = json.loads((job / ".calibanconfig.json").read_text())
    assert config == {"nogpu": True, "experiment_config": "experiment.json",
                      "labels": {"team": "a"}, "name": "forced"}
    assert json.loads((job / "experiment.json").read_text()) == {"x": [4, 9]}
    main = (job / "main.py").read_text()
    submit, defs = IN["submit"], IN["defs"]
    assert f"# main.py: the %%caliban_cloud cell In[{submit}] with the code" in main
    assert f"# Left out of the program:\n#   In[{defs}] line 2: `%env EXPORT_DEMO=1` is not " \
           "run in the job" in main
    assert f"# --- In[{defs}] ---\nimport math\ndef root(x):" in main
    assert "unused" not in main
    assert main.rstrip().endswith("print('RESULT', root(x))")
    # The jobs the directory submits are the cell's: one per experiment, its labels.
    assert dry_run_args(job) == [(["--x", "4"], "a"), (["--x", "9"], "a")]
    assert run_main(job, "--x", "9") == "RESULT 3.0\n"


def test_a_non_empty_directory_is_refused_and_force_writes_into_it(executed):
    cwd, out = executed
    assert "UsageError: out is not empty" in out["again"]
    assert "Pass --force to export into it anyway" in out["again"]
    assert "exported a job directory to out" in out["forced"]


def test_this_cell_is_exported_with_cell_or_as_the_cell_magics_body(executed):
    cwd, out = executed
    assert "RESULT 4.0" in out["cell"]  # a line magic: the rest of the cell runs here too
    job = cwd / "cell_job"
    assert json.loads((job / ".calibanconfig.json").read_text()) == {"nogpu": True}
    assert f"the %%caliban_cloud cell In[{IN['cell']}]" in (job / "main.py").read_text()
    assert run_main(job) == "RESULT 4.0\n"
    assert "RESULT" not in out["body"]  # the body of %%caliban_export is not run
    assert run_main(cwd / "body_job") == "RESULT 5.0\n"


def test_what_cannot_be_exported_is_named_and_nothing_is_written(executed):
    cwd, out = executed
    # The In number is the one the notebook shows for the shell command's cell.
    assert (f"listing (set by a magic or shell command at In[{IN['shell']}] line 1, used at "
            "line 2 of this cell)") in out["uncapturable"], out["uncapturable"]
    assert "argument --xgroup: not part of an export" in out["refused_flag"]
    assert not (cwd / "bad_job").exists()

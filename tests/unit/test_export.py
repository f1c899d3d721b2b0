"""Export without Docker: the directory's content, the checks, and writing it safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from support import caliban

from caliban_jupyter.errors import CaptureError, ExportError
from caliban_jupyter.packaging.export import JobDirectory, check_notebook, cloud_command
from caliban_jupyter.packaging.export_files import (
    copy_paths,
    requirement_files,
    write_directory,
    zip_directory,
)

HELPERS = ("import math\nimport json\n\n"
           "def score(lr, seed):\n    return round(math.sin(lr * 10 + seed), 6)\n")


def write_notebook(path, *cells, parameters=None):
    nb = nbformat.v4.new_notebook()
    for i, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if i == parameters:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# a title"))
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "helpers.py").write_text(HELPERS)
    (root / "exp.json").write_text('// swept\n{"lr": [0.1, 0.5], "seed": [1, 2]}\n')
    write_notebook(root / "analysis.ipynb",
                   "%matplotlib inline\nimport helpers",
                   "lr = 0.01\nseed = 0\nepochs = 3",
                   "value = helpers.score(lr, seed) * epochs\n!echo hi\n"
                   "print('RESULT', lr, seed, epochs, value)",
                   "%%bash\necho in the job too",
                   parameters=1)
    return root


def test_caliban_export_writes_a_directory_caliban_cloud_submits(project):
    r = caliban(project, "export", "--nogpu", "--experiment_config", "exp.json",
                "-l", "team=vision", "analysis.ipynb", "--to", "job", "--", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    job = project / "job"
    assert sorted(p.name for p in job.iterdir()) == [
        ".calibanconfig.json", "experiment.json", "helpers.py", "main.py",
        "requirements.txt", "submit.sh"]
    assert json.loads((job / ".calibanconfig.json").read_text()) == {
        "nogpu": True, "experiment_config": "experiment.json",
        "labels": {"team": "vision"}, "args": ["--epochs", "2"]}
    # The experiment config is the user's file, comments included.
    assert (job / "experiment.json").read_text() == (project / "exp.json").read_text()
    assert (job / "helpers.py").read_text() == HELPERS
    assert "copied the local modules it imports: helpers.py" in r.stdout
    main = (job / "main.py").read_text()
    assert "# main.py: the notebook analysis.ipynb as one program" in main
    assert f"# Source: its code cells, in order, from\n#   {project / 'analysis.ipynb'}\n" in main
    assert "Cell 3 is the parameters cell" in main and "Parameters: lr, seed, epochs." in main
    assert "# Beside it:\n#   copied the local modules it imports: helpers.py\n" in main
    # Each statement left out, where the notebook shows it; shell lines run in the job.
    assert "# Left out of the program:\n#   cell 2, line 1: `%matplotlib inline` is not run " \
           "in the job" in main
    assert "echo hi" not in main.split("# Left out")[1].split("\n\n")[0]
    assert "# --- cell 3 (parameters) ---\nlr = 0.01" in main
    assert "# --- cell 5 ---\n_caliban_script('bash', 'echo in the job too\\n')" in main
    assert "%%caliban_cloud" not in main
    submit = (job / "submit.sh").read_text()
    assert os.access(job / "submit.sh", os.X_OK)
    assert ("#   caliban cloud --nogpu --experiment_config experiment.json -l team=vision "
            "main.py -- --epochs 2\n") in submit
    assert "#   bash submit.sh --dry_run\n" in submit
    assert submit.endswith('cd "$(dirname "$0")"\nexec caliban cloud "$@" main.py\n')
    assert (job / "requirements.txt").read_text().startswith("# ")  # nothing to pin

    # Submitting the directory plans the same jobs as submitting the notebook.
    def jobs(cwd, *args):
        out = caliban(cwd, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                      "--image_tag", "img:1", *args)
        assert out.returncode == 0, out.stderr
        return [(b["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"],
                 b["jobSpec"]["workerPoolSpecs"][0]["machineSpec"],
                 {k: v for k, v in b["labels"].items() if k not in ("xgroup",)})
                for b in json.loads(out.stdout)["jobs"]]

    original = jobs(project, "--nogpu", "--experiment_config", "exp.json", "-l",
                    "team=vision", "analysis.ipynb", "--", "--epochs", "2")
    assert len(original) == 4
    assert jobs(job, "main.py") == original

    # Each job's program gives what the notebook's code gives for its arguments.
    for args, _, _ in original:
        run = subprocess.run([sys.executable, "main.py", *args], cwd=job,
                             capture_output=True, text=True, timeout=60, check=True)
        values = dict(zip(args[::2], args[1::2], strict=True))
        expected = __import__("math").sin(float(values["--lr"]) * 10 + int(values["--seed"]))
        assert run.stdout == (f"hi\nRESULT {values['--lr']} {values['--seed']} 2 "
                              f"{round(expected, 6) * 2}\nin the job too\n")


def test_a_non_empty_directory_is_refused_without_a_terminal_and_names_force(project):
    (project / "job").mkdir()
    (project / "job" / "notes.txt").write_text("mine")
    r = caliban(project, "export", "analysis.ipynb", "--to", "job")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "job is not empty (notes.txt); nothing was written. Pass --force" in r.stderr
    assert sorted(p.name for p in (project / "job").iterdir()) == ["notes.txt"]

    r = caliban(project, "export", "analysis.ipynb", "--to", "job", "--force")
    assert r.returncode == 0, r.stderr
    assert "  left as they were: notes.txt\n" in r.stdout
    assert (project / "job" / "notes.txt").read_text() == "mine"
    assert (project / "job" / "main.py").is_file()


def test_export_asks_on_a_terminal(project, tmp_path):
    """With a terminal, the question is asked and the answer decides (a pty for stdin)."""
    import pty

    (project / "job").mkdir()
    (project / "job" / "notes.txt").write_text("mine")
    for answer, written in (("n\n", False), ("y\n", True)):
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "caliban_jupyter.cli", "export",
                                 "analysis.ipynb", "--to", "job"], cwd=project,
                                stdin=follower, stdout=subprocess.PIPE, stderr=follower,
                                text=True)
        os.close(follower)
        seen = b""
        while b"[y/N]" not in seen:
            seen += os.read(leader, 1024)
        assert b"job is not empty (notes.txt). Export into it, replacing no file" in seen
        os.write(leader, answer.encode())
        proc.wait(timeout=60)
        os.close(leader)
        assert (project / "job" / "main.py").is_file() is written
        assert proc.returncode == (0 if written else 2)


def test_flags_of_one_submission_are_refused_with_where_they_go(project):
    r = caliban(project, "export", "--xgroup", "g", "analysis.ipynb", "--to", "job")
    assert r.returncode == 2
    assert "argument --xgroup: not part of an export: the experiment group is chosen when " \
           "you submit: bash submit.sh --xgroup NAME" in r.stderr
    assert not (project / "job").exists()


def test_a_notebook_whose_code_cannot_be_captured_names_the_statement(project):
    write_notebook(project / "shell.ipynb", "files = !ls\nn = 1", "print(len(files), n)")
    r = caliban(project, "export", "shell.ipynb", "--to", "job")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("cell 3, line 1 (`print(len(files), n)`) uses `files`, which only the magic or "
            "shell command at cell 2, line 1 (`files = !ls`) sets") in r.stderr
    assert not (project / "job").exists()


def test_an_export_that_would_not_submit_writes_nothing(project):
    r = caliban(project, "export", "--gpu_spec", "3xV100", "analysis.ipynb", "--to", "job")
    assert r.returncode == 2, r.stderr
    assert "the exported directory would not submit, so nothing was written" in r.stderr
    assert "3" in r.stderr and "V100" in r.stderr
    assert not (project / "job").exists()


# ------------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize(("cells", "message"), [
    ([(1, "display(1)")], "cell 1, line 1 (`display(1)`) uses `display`, which exists only "
                          "inside IPython"),
    ([(2, "x = 1\n%time v = x"), (3, "print(v)")],
     "cell 3, line 1 (`print(v)`) uses `v`, which only the magic or shell command at cell 2, "
     "line 2 (`%time v = x`) sets"),
    ([(2, "files = !ls"), (4, "def f():\n    return files")],
     "cell 4, line 1 (`def f():`) uses `files`, which only the magic or shell command at "
     "cell 2, line 1"),
    ([(1, "x = (")], "cell 1 is not valid Python"),
])
def test_check_notebook_names_the_statement_it_cannot_capture(cells, message):
    with pytest.raises(CaptureError, match=__import__("re").escape(message)):
        check_notebook(cells, "nb.ipynb")


def test_what_a_program_runs_or_redefines_is_fine():
    check_notebook([(1, "x = !ls"), (2, "x = 3\nprint(x)"), (3, "!echo {x}"),
                    (4, "%%bash\necho hi"), (5, "%matplotlib inline")], "nb.ipynb")


def test_copies_leave_out_credentials_and_ignored_files(tmp_path):
    (tmp_path / "data" / "__pycache__").mkdir(parents=True)
    (tmp_path / "data" / "x.csv").write_text("1")
    (tmp_path / "data" / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (tmp_path / "data" / "key.json").write_text('{"type": "service_account"}')
    (tmp_path / "mod.py").write_text("x = 1\n")
    copies, credentials = copy_paths(str(tmp_path), ["data", "mod.py"])
    assert sorted(copies) == ["data/x.csv", "mod.py"] and credentials == ["data/key.json"]


def test_requirement_files_follow_references(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r reqs/base.txt\nnumpy\n")
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("-c pins.txt\n")
    (tmp_path / "reqs" / "pins.txt").write_text("numpy==1\n")
    assert sorted(requirement_files(str(tmp_path))) == [
        "reqs/base.txt", "reqs/pins.txt", "requirements.txt"]


def test_cloud_command_spells_every_flag():
    assert cloud_command({"nogpu": True, "labels": {"a": "1"}, "dirs": ["d"], "extras": ["x"],
                          "base_image": {"cpu": "c"}, "apt_packages": ["git"], "spot": True,
                          "timeout": "2h", "env": {"A": "1"}, "workers": 2,
                          "region": "r", "args": ["--e", "1"]}) == [
        "caliban", "cloud", "--nogpu", "-l", "a=1", "-d", "d", "--extras", "x", "--spot",
        "--timeout", "2h", "--env", "A=1", "--workers", "2", "--region", "r", "main.py",
        "--", "--e", "1"]


def test_runtime_flags_are_exported_and_secrets_are_not(project):
    flags = ["--gpu_spec", "1xV100", "--spot", "--timeout", "2h", "--env", "DATA=/gcs/b",
             "--workers", "2", "--boot_disk_size", "200"]
    r = caliban(project, "export", *flags, "--env", "API_TOKEN=s3cret", "analysis.ipynb",
                "--to", "job")
    assert r.returncode == 0, r.stderr
    config = json.loads((project / "job" / ".calibanconfig.json").read_text())
    assert config == {"gpu_spec": "1xV100", "spot": True, "timeout": "2h",
                      "env": {"DATA": "/gcs/b"}, "boot_disk_size": "200", "workers": "2"}
    assert "left out the environment variable API_TOKEN: it looks like a secret" in r.stdout
    assert "s3cret" not in "".join(p.read_text() for p in (project / "job").iterdir())

    def bodies(cwd, *args):
        out = caliban(cwd, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                      "--image_tag", "img:1", "--xgroup", "g", *args)
        assert out.returncode == 0, out.stderr
        return [(_same_runtime(b["jobSpec"]), b["labels"])
                for b in json.loads(out.stdout)["jobs"]]

    assert bodies(project / "job", "main.py") == bodies(project, *flags, "analysis.ipynb")


def _same_runtime(job_spec):
    """A jobSpec less what differs by design between a notebook job and its export: the
    output location (named after the job, whose name has the submission's second) and the
    CALIBAN_NOTEBOOK marker of a job that executes a notebook as a notebook."""
    out = {k: v for k, v in job_spec.items() if k != "baseOutputDirectory"}
    pools = []
    for pool in out["workerPoolSpecs"]:
        container = dict(pool["containerSpec"])
        container["env"] = [e for e in container.get("env", [])
                            if e["name"] != "CALIBAN_NOTEBOOK"]
        pools.append({**pool, "containerSpec": container})
    return {**out, "workerPoolSpecs": pools}


# ---------------------------------------------------------------------------------- writing

def test_write_directory_never_overwrites_without_consent(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "main.py").write_text("old")
    job = JobDirectory({"main.py": b"new"}, {})
    asked = []
    for confirm, error in ((None, "Pass --force"), (lambda q: asked.append(q) or False,
                                                    "export cancelled")):
        with pytest.raises(ExportError, match=error):
            write_directory(job, target, confirm=confirm)
        assert (target / "main.py").read_text() == "old"
    assert asked == [f"{target} is not empty (main.py). Export into it, replacing main.py "
                     "and leaving the other files as they are? [y/N] "]
    write_directory(job, target, confirm=lambda q: True)
    assert (target / "main.py").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging left behind


def test_a_failed_check_or_a_clash_writes_nothing(tmp_path):
    target = tmp_path / "out"

    def refuse(staged: Path) -> None:
        assert (staged / "a" / "b.py").read_text() == "x"
        raise ExportError("no")

    with pytest.raises(ExportError, match="no"):
        write_directory(JobDirectory({"a/b.py": b"x"}, {}), target, check=refuse)
    assert not target.exists() or not any(target.iterdir())
    target.mkdir(exist_ok=True)
    (target / "a").write_text("a file")
    with pytest.raises(ExportError, match="is a file, and the export writes a/b.py"):
        write_directory(JobDirectory({"a/b.py": b"x"}, {}), target, force=True)
    (target / "a").unlink()
    (target / "a" / "b.py").mkdir(parents=True)
    with pytest.raises(ExportError, match="is a directory"):
        write_directory(JobDirectory({"a/b.py": b"x"}, {}), target, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_zip_is_deterministic_and_keeps_submit_executable(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    job = JobDirectory({"submit.sh": b"#!/bin/sh\n", "main.py": b"print(1)\n"},
                       {"lib/m.py": str(source)})
    data = zip_directory(job, "nb")
    assert data == zip_directory(job, "nb")
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        assert archive.namelist() == ["nb/lib/m.py", "nb/main.py", "nb/submit.sh"]
        assert archive.getinfo("nb/submit.sh").external_attr >> 16 & 0o777 == 0o755
        assert archive.read("nb/lib/m.py") == b"x = 1\n"


def test_a_notebook_job_overrides_what_the_parameters_cell_assigns(tmp_path):
    """An exported notebook's main.py run with `--epochs 5` runs with epochs 5; the
    notebook's %%bash cell runs too. (`caliban cloud nb.ipynb` itself executes the notebook
    in a kernel: tests/kernel/test_notebook_runner.py.)"""
    from caliban_jupyter.capture.notebook import notebook_capture

    write_notebook(tmp_path / "nb.ipynb", "epochs = 1\nrate = 0.5", "%%bash\necho from bash",
                   "print('epochs', epochs, 'rate', rate)", parameters=0)
    (tmp_path / "main.py").write_text(
        notebook_capture(tmp_path / "nb.ipynb", [{"rate": 1}]).source)
    run = subprocess.run([sys.executable, "main.py", "--epochs", "5", "--rate", "2"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout == "from bash\nepochs 5 rate 2\n"

"""A cell submitted as code: local modules shipped, notes and program shown in the dry run,
experiment keys that cannot be variables (no Docker, no kernel)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import write_tree

import caliban_jupyter
from caliban_jupyter.capture.local import local_modules, local_path
from caliban_jupyter.errors import ExperimentConfigError, UsageError
from caliban_jupyter.packaging.context import BuildRequest, plan_context


@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch) -> Path:
    write_tree(tmp_path, {
        "mylib.py": "from mypkg.scale import factor\nimport traitlets\n"
                    "def double(v):\n    return v * factor\n",
        "mypkg/__init__.py": "",
        "mypkg/scale.py": "import json\nfrom . import other\nfactor = 2\n",
        "mypkg/other.py": "import helper_mod\n",
        "helper_mod.py": "X = 1\n",
        "unused_mod.py": "import numpy\n",
        "random.py": "# shadows nothing: the standard library wins\n",
        "nspkg/part.py": "Y = 1\n",
        "data.csv": "1,2\n",
    })
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / ".caliban-home"))
    return tmp_path


def test_local_modules_are_found_transitively(notebook_dir: Path) -> None:
    found = local_modules(["mylib", "random", "os", "caliban_jupyter"], notebook_dir)
    assert found.paths == ("helper_mod.py", "mylib.py", "mypkg")
    assert found.imports == ("json", "traitlets")  # pinned like the cell's own imports
    assert local_path("nspkg", notebook_dir) == "nspkg"
    assert local_path("unused_mod", notebook_dir) == "unused_mod.py"
    assert local_path("random", notebook_dir) is None
    assert local_modules(["nothing_here"], notebook_dir).paths == ()


def test_local_modules_are_shipped_beside_the_program(notebook_dir: Path) -> None:
    request = BuildRequest(str(notebook_dir), None, base_image="base:1",
                           generated_files={"caliban_main.py": b"import mylib\n"},
                           entrypoint=("python3", "caliban_main.py"),
                           modules=("mylib.py", "mypkg", "helper_mod.py"))
    plan = plan_context(request)
    assert [f for f in plan.files if f.startswith("code/")] == [
        "code/helper_mod.py", "code/mylib.py", "code/mypkg/__init__.py",
        "code/mypkg/other.py", "code/mypkg/scale.py"]
    assert 'COPY --chown=caliban:caliban ["code/", "/usr/app/"]' in plan.dockerfile
    (notebook_dir / ".dockerignore").write_text("mypkg\n")
    with pytest.raises(UsageError, match="imports mypkg, which .dockerignore"):
        plan_context(request)


def test_cell_dry_run_names_modules_and_notes_and_shows_the_program(notebook_dir: Path) -> None:
    code = "import mylib\n%matplotlib inline\nprint(mylib.double(lr))"
    dry = caliban_jupyter.cloud(code, backend="local", nogpu=True, dry_run=True,
                                show_program=True, experiment_config={"lr": [0.5, 1]})
    text = repr(dry)
    assert "Local modules shipped with the program: helper_mod.py, mylib.py, mypkg\n" in text
    assert "note: line 3 of this cell: `%matplotlib inline` is not run in the job" in text
    program = text.split("Program (caliban_main.py, run as `python3 caliban_main.py ARGS`):\n")
    assert program[1].strip() == dry.plan.program.strip()
    assert "print(mylib.double(lr))" in program[1]
    assert dry.plan.request.program_modules == ("helper_mod.py", "mylib.py", "mypkg")
    assert any(r.startswith("traitlets==") for r in dry.plan.request.requirements)


def test_show_program_needs_a_text_dry_run(notebook_dir: Path) -> None:
    with pytest.raises(UsageError, match="--show_program .* with --dry_run"):
        caliban_jupyter.cloud("print(1)", backend="local", nogpu=True, show_program=True)


@pytest.mark.parametrize(("key", "hint"), [
    ("learning-rate", "'learning-rate' -> 'learning_rate'"),
    ("--lr", "'--lr' -> 'lr'"),
    ("class", "'class' -> 'class_'"),
])
def test_a_key_that_cannot_be_a_variable_is_refused_in_a_cell(notebook_dir: Path, key: str,
                                                              hint: str) -> None:
    # It used to be dropped without a word (and `--lr` became `----lr`).
    with pytest.raises(ExperimentConfigError) as caught:
        caliban_jupyter.cloud("print(1)", backend="local", nogpu=True, dry_run=True,
                              experiment_config={key: [1, 2]})
    message = str(caught.value)
    assert "cannot become a variable of the cell's program" in message and hint in message


def test_cli_show_program_names_the_target_command(notebook_dir: Path) -> None:
    (notebook_dir / "train.py").write_text("print(1)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PROJECT_ID", "CALIBAN_BACKEND")}
    done = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--dry_run",
                           "--show_program", "--backend", "local", "--nogpu", "train.py"],
                          cwd=notebook_dir, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Program: `python3 train.py ARGS`, the script train.py as it is in the image" \
        in done.stdout
    done = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud",
                           "--show_program", "--backend", "local", "--nogpu", "train.py"],
                          cwd=notebook_dir, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 2 and "use it with --dry_run" in done.stderr


def test_a_swept_false_reaches_the_cells_program(notebook_dir: Path) -> None:
    # `false` omits the flag (caliban's rule): the program kept the notebook's True.
    from caliban_jupyter.notebook.api import run_cloud
    from caliban_jupyter.notebook.args import cloud_parser, parse_line

    args = parse_line(cloud_parser(), "--backend local --nogpu --dry_run --experiment_config g")
    dry = run_cloud(args, code="print(augment)", history=["", "augment = True"],
                    user_ns={"g": {"augment": [True, False]}})
    assert [spec.args for spec in dry.specs] == [("--augment",), ("--augment", "False")]
    script = notebook_dir / "caliban_main.py"
    script.write_text(dry.plan.program)
    outputs = [subprocess.run([sys.executable, str(script), *spec.args], capture_output=True,
                              text=True, check=True).stdout for spec in dry.specs]
    assert outputs == ["True\n", "False\n"]

"""Code packages (--build package): deterministic sdists named by content, and their runtime."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from caliban_jupyter.errors import UsageError
from caliban_jupyter.packaging import _job_main
from caliban_jupyter.packaging.context import BuildRequest
from caliban_jupyter.packaging.package import plan_package, write_part
from caliban_jupyter.spec.target import classify_target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "train.py").write_text("print('train')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.txt").write_text("data v1\n")
    (tmp_path / "data" / ".hidden").write_text("kept\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "trainer" / "key.json").write_text(
        '{"type": "service_account", "private_key": "x"}')
    return tmp_path


def _req(project: Path, **kw) -> BuildRequest:
    kw.setdefault("dirs", ("data",))
    return BuildRequest(str(project), classify_target("trainer.train", project), gpu=False,
                        **kw)


def _sdist(part) -> tarfile.TarFile:
    buf = io.BytesIO()
    write_part(part, buf)
    return tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz")


def _app(part) -> dict[str, bytes]:
    sdist = _sdist(part)
    member = next(m for m in sdist.getmembers() if m.name.endswith("/app.tar"))
    app = tarfile.open(fileobj=sdist.extractfile(member))
    return {m.name: (app.extractfile(m).read() if m.isfile() else b"<dir>")
            for m in app.getmembers()}


def test_same_inputs_same_bytes_and_names(project):
    one, two = plan_package(_req(project)), plan_package(_req(project))
    assert [p.name for p in one.parts] == [p.name for p in two.parts]
    for a, b in zip(one.parts, two.parts, strict=True):
        x, y = io.BytesIO(), io.BytesIO()
        write_part(a, x)
        write_part(b, y)
        assert x.getvalue() == y.getvalue()
    assert [p.module for p in one.parts] == ["caliban_data", "caliban_job"]
    assert one.job.name == f"caliban_job-0+{one.job.digest[:16]}.tar.gz"


def test_a_code_change_renames_only_the_job_package(project):
    before = plan_package(_req(project))
    (project / "trainer" / "train.py").write_text("print('train v2')\n")
    after = plan_package(_req(project))
    assert after.parts[0].name == before.parts[0].name          # data: uploaded once
    assert after.job.name != before.job.name
    (project / "data" / "d.txt").write_text("data v2\n")
    changed = plan_package(_req(project))
    assert changed.parts[0].name != after.parts[0].name
    # The job package names its data exactly, so it changes with it.
    assert changed.job.name != after.job.name


def test_no_dirs_means_one_package(project):
    plan = plan_package(_req(project, dirs=()))
    assert [p.module for p in plan.parts] == ["caliban_job"]
    assert json.loads(dict(plan.job.extra_files)["job.json"])["parts"] == ["caliban_job"]


def test_layout_matches_the_docker_image(project):
    plan = plan_package(_req(project))
    assert _app(plan.parts[0]) == {"data": b"<dir>", "data/.hidden": b"kept\n",
                                   "data/d.txt": b"data v1\n"}
    assert _app(plan.job) == {
        ".caliban": b"<dir>", ".caliban/requirements": b"<dir>",
        ".caliban/requirements/requirements.txt": b"numpy\n",
        "trainer": b"<dir>", "trainer/__init__.py": b"", "trainer/train.py": b"print('train')\n",
    }
    job = json.loads(dict(plan.job.extra_files)["job.json"])
    assert job == {"format": 1, "parts": ["caliban_data", "caliban_job"],
                   "entrypoint": ["python3", "-m", "trainer.train"],
                   "requirements": ["requirements.txt"], "setup": False, "extras": []}
    assert plan.install_summary() == "requirements.txt"
    # A key file in the code stays out, with a warning, as it does from an image.
    assert any("key.json" in w for w in plan.warnings)


def test_the_sdist_is_a_buildable_project(project):
    plan = plan_package(_req(project))
    sdist = _sdist(plan.job)
    root = plan.job.name.removesuffix(".tar.gz")
    assert sorted(m.name for m in sdist.getmembers()) == sorted(
        [root, f"{root}/caliban_job", f"{root}/PKG-INFO", f"{root}/pyproject.toml",
         f"{root}/caliban_job/__init__.py", f"{root}/caliban_job/__main__.py",
         f"{root}/caliban_job/job.json", f"{root}/caliban_job/app.tar"])
    pyproject = sdist.extractfile(f"{root}/pyproject.toml").read().decode()
    assert f'version = "{plan.job.version}"' in pyproject
    assert 'caliban_job = ["app.tar", "job.json"]' in pyproject
    main = sdist.extractfile(f"{root}/caliban_job/__main__.py").read()
    assert main == Path(_job_main.__file__).read_bytes()
    assert {m.mtime for m in sdist.getmembers()} == {315532800}


def test_generated_program_and_requirements(project):
    (project / "requirements.txt").unlink()
    req = BuildRequest(str(project), None, gpu=False, generated_files={
        "caliban_main.py": b"print('cell')\n"}, entrypoint=("python3", "caliban_main.py"),
        requirements=("numpy==1.24.2",))
    plan = plan_package(req)
    assert _app(plan.job)["caliban_main.py"] == b"print('cell')\n"
    assert plan.requirement_lines == ("numpy==1.24.2",)
    assert plan.install_summary() == "numpy==1.24.2"


def test_apt_packages_need_docker(project):
    with pytest.raises(UsageError, match=r"apt packages \(libgl1\) need a Docker build.*"
                                         r"--build docker or --build cloudbuild"):
        plan_package(_req(project, apt_packages=("libgl1",)))


def test_runtime_commands(tmp_path):
    job = {"entrypoint": ["python3", "-m", "trainer.train"],
           "requirements": ["requirements.txt"], "setup": True, "extras": ["cpu", "x"]}
    steps = _job_main.install_commands(job, str(tmp_path))
    pip = [sys.executable, "-m", "pip", "install"]
    assert steps == [
        ([*pip, "-r", str(tmp_path / ".caliban" / "requirements" / "requirements.txt")],
         str(tmp_path)),
        ([*pip, ".[cpu,x]"], str(tmp_path / ".caliban" / "setup")),
    ]
    assert _job_main.command(job, ["--lr", "1"]) == [sys.executable, "-m", "trainer.train",
                                                      "--lr", "1"]
    assert _job_main.command({"entrypoint": ["bash", "run.sh"]}, ["a"]) == ["bash", "run.sh",
                                                                           "a"]
    assert _job_main.install_commands({"entrypoint": ["bash", "x"]}, str(tmp_path)) == []


def test_unchanged_data_is_recognised_without_reading_it(project, tmp_path, monkeypatch):
    from caliban_jupyter.packaging import package

    memo = tmp_path / "memo.json"
    fresh = plan_package(_req(project)).parts[0].digest
    assert plan_package(_req(project), memo=memo).parts[0].digest == fresh
    reads = []
    write_app = package._write_app
    monkeypatch.setattr(package, "_write_app", lambda entries, sink: reads.append(
        [e.arcname for e in entries]) or write_app(entries, sink))
    (project / "trainer" / "train.py").write_text("print('code change')\n")
    assert plan_package(_req(project), memo=memo).parts[0].digest == fresh
    assert all(not names or names[0] != "data" for names in reads)  # only the code was read
    (project / "data" / "d.txt").write_text("data v2\n")
    changed = plan_package(_req(project), memo=memo).parts[0].digest
    assert changed != fresh
    assert changed == plan_package(_req(project)).parts[0].digest


def test_a_notebook_package_brings_its_runner_and_runtime(project, tmp_path):
    """--build package runs a notebook with the same runner; the job installs nbclient,
    nbformat and ipykernel when the prebuilt image lacks them."""
    from caliban_jupyter.packaging.jobfiles import notebook_command, runtime_files
    from caliban_jupyter.spec.target import classify_target

    (project / "nb.ipynb").write_text("{}")
    req = BuildRequest(str(project), classify_target("nb.ipynb", project), gpu=False,
                       generated_files=runtime_files(notebook=True),
                       entrypoint=notebook_command("nb.ipynb"), notebook_runtime=True)
    plan = plan_package(req)
    job = json.loads(dict(plan.job.extra_files)["job.json"])
    assert job["ensure"] == ["nbclient", "nbformat", "ipykernel"]
    assert {"caliban_notebook.py", "caliban_outputs.py", "nb.ipynb"} <= set(_app(plan.job))
    pip = [sys.executable, "-m", "pip", "install"]
    steps = _job_main.install_commands({**job, "ensure": ["json", "no_such_module_x"]},
                                       str(tmp_path))
    assert steps[-1] == ([*pip, "no_such_module_x"], str(tmp_path))
    assert all("json" not in args for args, _ in steps)

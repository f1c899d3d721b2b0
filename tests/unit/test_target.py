from __future__ import annotations

import pytest

from caliban_jupyter.errors import TargetError
from caliban_jupyter.spec.target import classify_target


@pytest.fixture
def project(tmp_path):
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "train.py").write_text("print('hi')\n")
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "__main__.py").write_text("")
    (tmp_path / "run.sh").write_text("echo hi\n")
    (tmp_path / "top.py").write_text("")
    (tmp_path / "nb.ipynb").write_text("{}")
    return tmp_path


def test_module(project):
    t = classify_target("trainer.train", project)
    assert (t.kind, t.path, t.package_root) == ("module", "trainer/train.py", "trainer")
    assert t.command() == ["python3", "-m", "trainer.train"]


def test_package_main_module(project):
    t = classify_target("pkg.sub", project)
    assert (t.kind, t.path) == ("module", "pkg/sub/__main__.py")


def test_script(project):
    t = classify_target("trainer/train.py", project)
    assert (t.kind, t.package_root) == ("script", "trainer")
    assert t.command() == ["python3", "trainer/train.py"]


def test_root_level_script_packages_whole_directory(project):
    assert classify_target("top.py", project).package_root == "."


def test_bash_and_notebook(project):
    assert classify_target("run.sh", project).command() == ["bash", "run.sh"]
    assert classify_target("nb.ipynb", project).kind == "notebook"


@pytest.mark.parametrize("name,needle", [
    ("trainer.missing", "module 'trainer.missing' not found"),
    ("nope/train.py", "file 'nope/train.py' not found"),
    ("trainer", "is a directory"),
    ("", "no module given"),
])
def test_missing_targets_are_clear(project, name, needle):
    with pytest.raises(TargetError, match=needle):
        classify_target(name, project)


def test_outside_cwd(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    (other / "x.py").write_text("")
    with pytest.raises(TargetError, match="outside the current directory"):
        classify_target(f"../{other.name}/x.py", project)

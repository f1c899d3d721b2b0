"""Context selection, ignore rules, credential screening and the deterministic tar (pure)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from support import write_tree

from caliban_jupyter.errors import UsageError
from caliban_jupyter.packaging.context import BuildRequest, plan_context, write_context
from caliban_jupyter.spec.target import classify_target

SA_KEY = json.dumps({"type": "service_account", "project_id": "p",
                     "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n"})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_tree(tmp_path, {
        "trainer/__init__.py": "",
        "trainer/train.py": "print('hi')\n",
        "trainer/util.py": "X = 1\n",
        "data/a.csv": "1,2\n",
        "other/notes.txt": "n\n",
        "requirements.txt": "numpy\n",
    })
    return tmp_path


def _req(root: Path, target: str | None = "trainer.train", **kw) -> BuildRequest:
    t = classify_target(target, root) if target else None
    kw.setdefault("base_image", "base:1")
    return BuildRequest(str(root), t, **kw)


def test_module_packages_its_package_root_and_dirs(project: Path):
    plan = plan_context(_req(project, dirs=("data",)))
    assert plan.files == (
        "code/trainer/__init__.py", "code/trainer/train.py", "code/trainer/util.py",
        "deps/requirements/requirements.txt", "dirs/0/a.csv",
    )
    assert plan.spec.entrypoint == ("python3", "-m", "trainer.train")
    assert plan.spec.dirs == ("data",)
    assert plan.tag == f"caliban:{plan.digest[:16]}"


def test_root_level_script_packages_whole_directory_minus_dirs(project: Path):
    write_tree(project, {"run.py": "print(1)\n"})
    plan = plan_context(_req(project, "run.py", dirs=("data",)))
    assert "code/run.py" in plan.files and "code/other/notes.txt" in plan.files
    assert not any(f.startswith("code/data/") for f in plan.files)
    assert "dirs/0/a.csv" in plan.files


def test_dir_outside_cwd_or_missing_is_usage_error(project: Path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    with pytest.raises(UsageError, match="outside the working directory"):
        plan_context(_req(project, dirs=(str(outside),)))
    with pytest.raises(UsageError, match="outside the working directory"):
        plan_context(_req(project, dirs=("../x",)))
    with pytest.raises(UsageError, match="not a directory"):
        plan_context(_req(project, dirs=("nope",)))


def test_default_exclusions(project: Path):
    write_tree(project, {
        "trainer/__pycache__/x.cpython-311.pyc": "b", "trainer/y.pyc": "b",
        ".git/HEAD": "ref", "trainer/.ipynb_checkpoints/t.py": "", ".env": "SECRET=1",
        ".venv/lib/x.py": "", "venv/lib/x.py": "", "myenv/pyvenv.cfg": "home=/usr",
        "myenv/lib/site.py": "", "run.py": "",
    })
    files = plan_context(_req(project, "run.py")).files
    assert not [f for f in files if any(s in f for s in (
        "__pycache__", ".pyc", ".git/", "checkpoints", ".env", "venv", "myenv"))]
    assert "code/run.py" in files


def test_dockerignore_semantics(project: Path):
    write_tree(project, {
        ".dockerignore": "# comment\n/other\n**/*.log\n!keep.log\ntrainer/secret*\n",
        "other/x.txt": "", "trainer/other/y.txt": "", "a.log": "", "trainer/b.log": "",
        "keep.log": "", "trainer/secret_stuff.py": "", "run.py": "",
    })
    files = plan_context(_req(project, "run.py")).files
    assert "code/trainer/other/y.txt" in files      # leading / anchors at the root only
    assert not any(f.startswith("code/other/") for f in files)
    assert "code/a.log" not in files and "code/trainer/b.log" not in files
    assert "code/keep.log" in files
    assert "code/trainer/secret_stuff.py" not in files
    assert "code/.dockerignore" not in files


def test_ignored_target_is_usage_error(project: Path):
    write_tree(project, {".dockerignore": "trainer\n"})
    with pytest.raises(UsageError, match=".dockerignore"):
        plan_context(_req(project))


def test_credentials_are_left_out_with_warning_unless_included(project: Path):
    write_tree(project, {
        "trainer/key.json": SA_KEY,
        "trainer/config.json": json.dumps({"type": "config", "lr": 0.1}),
        "trainer/deploy.pem": "x", "trainer/id_rsa": "x",
        "trainer/blob.txt": "-----BEGIN OPENSSH PRIVATE KEY-----\n...",
    })
    plan = plan_context(_req(project))
    assert plan.skipped_credentials == ("trainer/blob.txt", "trainer/deploy.pem",
                                        "trainer/id_rsa", "trainer/key.json")
    assert "code/trainer/config.json" in plan.files
    assert all(p in w for p, w in zip(plan.skipped_credentials, plan.warnings, strict=True))
    kept = plan_context(_req(project, include=("trainer/deploy.pem",)))
    assert "code/trainer/deploy.pem" in kept.files
    assert "trainer/deploy.pem" not in kept.skipped_credentials


def test_cloud_key_is_always_excluded(project: Path):
    write_tree(project, {"trainer/my-key.json": SA_KEY})
    plan = plan_context(_req(project, cloud_key=str(project / "trainer/my-key.json"),
                             include=("trainer/my-key.json",)))
    assert "code/trainer/my-key.json" not in plan.files


def test_dependencies_setup_and_extras(project: Path):
    write_tree(project, {"setup.py": "from setuptools import setup\nsetup()\n", "setup.cfg": ""})
    gpu = plan_context(_req(project, extras=("tf",)))
    assert gpu.spec.setup_files == ("setup.py", "setup.cfg", "pyproject.toml")[:2]
    assert gpu.spec.extras == ("gpu", "tf")
    assert gpu.spec.requirements == ("requirements.txt",)
    cpu = plan_context(_req(project, extras=("tf",), gpu=False))
    assert cpu.spec.extras == ("cpu", "tf")
    assert "deps/setup/setup.py" in cpu.files


def test_extras_without_setup_is_usage_error(project: Path):
    with pytest.raises(UsageError, match="--extras"):
        plan_context(_req(project, extras=("tf",)))


def test_generated_requirements_only_without_project_deps(project: Path):
    (project / "requirements.txt").unlink()
    plan = plan_context(_req(project, requirements=("numpy==1.24.2",)))
    assert plan.spec.requirements == ("caliban-requirements.txt",)
    write_tree(project, {"requirements.txt": "numpy\n"})
    plan = plan_context(_req(project, requirements=("numpy==1.24.2",)))
    assert plan.spec.requirements == ("requirements.txt",)


def test_generated_files_and_no_target(project: Path):
    plan = plan_context(_req(project, None, generated_files={"caliban_main.py": b"print(2)\n"},
                             entrypoint=("python3", "caliban_main.py")))
    assert "gen/caliban_main.py" in plan.files
    assert not any(f.startswith("code/") for f in plan.files)
    assert plan.spec.code is False and plan.spec.generated is True
    with pytest.raises(UsageError, match="relative path"):
        plan_context(_req(project, None, generated_files={"../x.py": b""},
                          entrypoint=("x",)))
    with pytest.raises(UsageError, match="nothing to run"):
        plan_context(_req(project, None))


def test_registry_tag_and_invalid_name(project: Path):
    plan = plan_context(_req(project, registry="127.0.0.1:5000", image_name="proj"))
    assert plan.tag.startswith("127.0.0.1:5000/proj:")
    with pytest.raises(UsageError, match="not a valid image name"):
        plan_context(_req(project, image_name="Bad Name"))


def _tar_members(project: Path, **kw) -> tuple[list[tarfile.TarInfo], bytes, str]:
    buf = io.BytesIO()
    plan = write_context(_req(project, **kw), buf)
    data = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers(), data, plan.digest


def test_tar_is_normalized_and_hash_is_of_the_bytes(project: Path):
    import hashlib

    script = project / "trainer" / "train.py"
    script.chmod(0o700)
    os.utime(script, (1, 1))
    members, data, digest = _tar_members(project, dirs=("data",))
    assert hashlib.sha256(data).hexdigest() == digest
    names = [m.name for m in members]
    assert names[0] == "Dockerfile" and names[1:] == sorted(names[1:])
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "root", "root", 315532800)
        assert m.mode == (0o755 if m.isdir() or m.name.endswith("train.py") else 0o644)
    assert plan_context(_req(project, dirs=("data",))).digest == digest


def test_hash_is_stable_across_locations_and_changes_with_content(project: Path, tmp_path_factory):
    import shutil

    copy = tmp_path_factory.mktemp("copy") / "p"
    shutil.copytree(project, copy)
    os.utime(copy / "trainer" / "train.py", (5, 5))
    assert plan_context(_req(project)).digest == plan_context(_req(copy)).digest
    (copy / "trainer" / "train.py").write_text("print('bye')\n")
    assert plan_context(_req(project)).digest != plan_context(_req(copy)).digest
    assert plan_context(_req(project)).digest != plan_context(_req(project, gpu=False,
                                                                    base_image=None)).digest


def test_symlink_kept_as_link(project: Path):
    (project / "trainer" / "link.py").symlink_to("util.py")
    members, _, _ = _tar_members(project)
    link = next(m for m in members if m.name == "code/trainer/link.py")
    assert link.issym() and link.linkname == "util.py"


# ------------------------------------- what dependency files reference ships with them

def test_requirement_files_ship_what_they_reference(project: Path):
    write_tree(project, {
        "requirements.txt": "-r base.txt\n--constraint=pins/constraints.txt  # pinned\n"
                            "-e ./localpkg\n./wheels/w-1.0-py3-none-any.whl ; python_version>'3'\n"
                            "--find-links ./wheels\nnumpy>=1 \\\n  # continued\n"
                            "git+https://example.invalid/x.git#egg=x\n",
        "base.txt": "-c pins/constraints.txt\n-rnested/more.txt\n",
        "nested/more.txt": "-r ../base.txt\n",  # a cycle is followed once
        "pins/constraints.txt": "numpy<3\n",
        "localpkg/pyproject.toml": "[project]\nname = 'localpkg'\nversion = '0'\n",
        "localpkg/localpkg/__init__.py": "",
        "wheels/w-1.0-py3-none-any.whl": "zip",
    })
    plan = plan_context(_req(project))
    deps = [f for f in plan.files if f.startswith("deps/")]
    assert deps == [
        "deps/requirements/base.txt",
        "deps/requirements/localpkg/localpkg/__init__.py",
        "deps/requirements/localpkg/pyproject.toml",
        "deps/requirements/nested/more.txt",
        "deps/requirements/pins/constraints.txt",
        "deps/requirements/requirements.txt",
        "deps/requirements/wheels/w-1.0-py3-none-any.whl",
    ]
    assert plan.spec.requirements == ("requirements.txt",)
    assert 'COPY ["deps/requirements/", "/tmp/caliban-requirements/"]' in plan.dockerfile
    assert "RUN cd /tmp/caliban-requirements && python3 -m pip install --no-cache-dir -r " \
           "requirements.txt" in plan.dockerfile


@pytest.mark.parametrize("line, message", [
    ("-r missing.txt", r"requirements.txt: -r missing.txt: no such file"),
    ("-c ../outside.txt", r"-c \.\./outside.txt is outside the working directory"),
    ("-r https://example.invalid/r.txt", r"ships only requirement files under"),
])
def test_a_requirement_file_that_cannot_ship_is_a_usage_error(project: Path, line, message):
    (project / "requirements.txt").write_text(line + "\n")
    (project.parent / "outside.txt").write_text("x\n")
    with pytest.raises(UsageError, match=message):
        plan_context(_req(project))


def test_an_ignored_reference_is_a_usage_error(project: Path):
    write_tree(project, {"requirements.txt": "-r base.txt\n", "base.txt": "",
                     ".dockerignore": "base.txt\n"})
    with pytest.raises(UsageError, match="base.txt is needed to install the dependencies"):
        plan_context(_req(project))


def test_setup_files_ship_the_packages_and_files_they_name(project: Path):
    (project / "requirements.txt").unlink()
    write_tree(project, {
        "setup.py": "from setuptools import setup\nsetup(name='proj', version='1',\n"
                    "      packages=['mylib', 'mylib.sub'], py_modules=['single'],\n"
                    "      long_description=open('README.md').read(),\n"
                    "      install_requires=['numpy>=1'])\n",
        "setup.cfg": "[metadata]\nlicense_files = LICENSE.txt\n",
        "mylib/__init__.py": "", "mylib/sub/__init__.py": "", "single.py": "",
        "README.md": "# proj\n", "LICENSE.txt": "MIT\n",
        "unrelated/big.bin": "x",
    })
    plan = plan_context(_req(project))
    deps = sorted(f for f in plan.files if f.startswith("deps/"))
    assert deps == [
        "deps/setup/LICENSE.txt", "deps/setup/README.md", "deps/setup/mylib/__init__.py",
        "deps/setup/mylib/sub/__init__.py", "deps/setup/setup.cfg", "deps/setup/setup.py",
        "deps/setup/single.py",
    ]


def test_pyproject_src_layout_ships_src(project: Path):
    (project / "requirements.txt").unlink()
    write_tree(project, {
        "pyproject.toml": "[project]\nname = 'proj'\nversion = '1'\nreadme = \"README.md\"\n"
                          "[tool.setuptools.packages.find]\nwhere = ['src']\n",
        "src/proj/__init__.py": "", "README.md": "r\n",
    })
    deps = sorted(f for f in plan_context(_req(project)).files if f.startswith("deps/"))
    assert deps == ["deps/setup/README.md", "deps/setup/pyproject.toml",
                    "deps/setup/src/proj/__init__.py"]

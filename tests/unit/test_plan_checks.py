"""What the plan (and the CLI around it) decides or refuses before anything is built: the
Vertex image's registry, reserved and rewritten labels, display-name length, the
confirmation of large sweeps, mistyped groups, and file targets with spaces."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import caliban

from caliban_jupyter.errors import LabelError, UsageError
from caliban_jupyter.history import History
from caliban_jupyter.service.plan import CloudRequest, plan_from_request


def image_uri(body: dict) -> str:
    return body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]


def jobs(r: subprocess.CompletedProcess) -> list[dict]:
    """The request bodies of a JSON dry run."""
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["jobs"]


# ------------------------------------------------- item 4: Vertex images live in a registry

def test_vertex_without_registry_defaults_to_artifact_registry_of_region_and_project(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "proj-1",
                "--region", "europe-west4", "--build", "docker", "--nogpu", "trainer.train")
    (body,) = jobs(r)
    assert image_uri(body) == \
        "europe-west4-docker.pkg.dev/proj-1/caliban/caliban-trainer:<content-hash>"
    text = caliban(project, "cloud", "--dry_run", "--project_id", "proj-1", "--build",
                   "docker", "--nogpu", "trainer.train").stdout
    assert "image:       us-central1-docker.pkg.dev/proj-1/caliban/caliban-trainer:" \
           "<content-hash>" in text


def test_registry_flag_still_overrides_the_vertex_default(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "p",
                "--registry", "us-docker.pkg.dev/p/team", "--build", "docker", "--nogpu",
                "trainer.train")
    assert image_uri(jobs(r)[0]) == \
        "us-docker.pkg.dev/p/team/caliban-trainer:<content-hash>"


def test_the_local_emulator_keeps_images_local(project):
    plan = plan_from_request(CloudRequest(module="trainer.train", backend="local", nogpu=True,
                                          cwd=str(project), env={}))
    assert plan.settings.registry is None


# --------------------------------------------------------- item 6: reserved labels refused

@pytest.mark.parametrize("label", ["xgroup=mine", "XGroup=mine", "caliban_index=3",
                                   "caliban_sid=x", "job_name=x"])
def test_a_label_colliding_with_a_reserved_label_is_refused(project, label):
    r = caliban(project, "cloud", "--dry_run", "--backend", "local", "--nogpu", "-l", label,
                "trainer.train")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert re.search(rf"caliban cloud: error: --label {re.escape(label)}: '\w+' is one of "
                     r"the automatic labels caliban sets on every job", r.stderr), r.stderr


# ------------------------------------------------------ item 10: display names of 128 max

def test_a_name_too_long_for_vertex_fails_in_the_plan_with_limit_and_length(project):
    name = "n" * 120
    r = caliban(project, "cloud", "--dry_run", "--backend", "local", "--nogpu", "--name", name,
                "trainer.train")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    # caliban_{name}_{YYYYmmdd_HHMMSS}_{index}: 120 + 1 + 15 + 2 = 138.
    assert "--name is 120 characters" in r.stderr
    assert "would be 138 characters, and Vertex AI allows at most 128" in r.stderr
    assert "shorten --name to at most 110 characters" in r.stderr


def test_the_longest_index_counts(project):
    ok = "n" * 110  # 110 + 18 = 128 with one job
    plan_from_request(CloudRequest(module="trainer.train", backend="local", nogpu=True,
                                   name=ok, cwd=str(project), env={}))
    with pytest.raises(UsageError, match="would be 129 characters"):
        plan_from_request(CloudRequest(module="trainer.train", backend="local", nogpu=True,
                                       name=ok, experiment_config={"x": list(range(10))},
                                       cwd=str(project), env={}))


# ----------------------------------------------- item 14: changed labels said, not silent

def test_dry_run_lists_each_label_changed_or_dropped(project):
    r = caliban(project, "cloud", "--dry_run", "--backend", "local", "--nogpu",
                "-l", "ключ=значение", "-l", "émoji=x", "-l", "a=b=c", "-l", "team=ml",
                "trainer.train")
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stdout.splitlines() if ln.startswith("note: ")]
    assert notes == [
        "note: label 'ключ=значение' (--label) dropped: no character of its key is allowed "
        "in a Vertex AI label key (lowercase letters, digits, '_' and '-')",
        "note: label 'émoji=x' (--label) became 'moji=x': dropped 'é' (Vertex AI labels "
        "allow only lowercase letters, digits, '_' and '-')",
        "note: label 'a=b=c' (--label) became 'a=bc': dropped '=' (Vertex AI labels allow "
        "only lowercase letters, digits, '_' and '-')",
    ]
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                "--nogpu", "-l", "émoji=x", "trainer.train")
    assert jobs(r)[0]["labels"]["moji"] == "x"  # stdout stays JSON
    assert "note: label 'émoji=x' (--label) became 'moji=x'" in r.stderr


def test_one_note_per_distinct_change_across_a_sweep(project):
    plan = plan_from_request(CloudRequest(
        module="trainer.train", backend="local", nogpu=True, cwd=str(project), env={},
        labels=("Team=ML",), experiment_config={"seed": [1, 2, 3]}))
    assert plan.notes == ("label 'Team=ML' (--label) became 'team=ml': lowercased",)


def test_plan_refuses_reserved_labels_before_anything(project):
    with pytest.raises(LabelError, match="choose the group with --xgroup"):
        plan_from_request(CloudRequest(module="trainer.train", backend="local", nogpu=True,
                                       labels=("xgroup=mine",), cwd=str(project), env={}))


# ------------------------------------------ sweeps of more than 100 jobs ask the terminal

def big_config(project: Path, n: int = 101) -> str:
    (project / "big.json").write_text(json.dumps({"seed": list(range(n))}))
    return "big.json"


UNREACHABLE = {"CALIBAN_ENDPOINT": "http://127.0.0.1:1", "DOCKER_HOST": "unix:///nonexistent"}


def test_big_sweep_without_a_terminal_is_refused_naming_yes(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--experiment_config",
                big_config(project), "trainer.train",
                env={**UNREACHABLE, "CALIBAN_HOME": str(home)})
    assert r.returncode == 2, r.stderr
    assert "caliban cloud: error: refusing to submit 101 jobs without confirmation: stdin " \
           "is not a terminal; pass --yes to go ahead" in r.stderr
    assert "127.0.0.1:1" not in r.stderr  # refused before the job service was asked


def test_yes_skips_the_question_and_dry_run_never_asks(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {**UNREACHABLE, "CALIBAN_HOME": str(home)}
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--yes",
                "--experiment_config", big_config(project), "trainer.train", env=env)
    # Past the question: now the unreachable job service is what stops it.
    assert r.returncode == 1 and "refusing" not in r.stderr
    assert "127.0.0.1:1" in r.stderr and "Nothing was built or submitted" in r.stderr
    r = caliban(project, "cloud", "--dry_run", "--backend", "local", "--nogpu",
                "--experiment_config", big_config(project), "trainer.train", env=env)
    assert r.returncode == 0 and "101 jobs would be submitted." in r.stdout
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--experiment_config",
                big_config(project, 100), "trainer.train", env=env)
    assert "refusing" not in r.stderr and "127.0.0.1:1" in r.stderr  # 100 is not asked


def _on_a_terminal(project: Path, answer: bytes, env: dict) -> tuple[int, str]:
    """Run a 101-job `caliban cloud` with a pseudo-terminal as stdin, typing ``answer``."""
    import pty

    controller, terminal = pty.openpty()
    full = {k: v for k, v in os.environ.items() if k != "CALIBAN_ENDPOINT"}
    full.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend", "local",
         "--nogpu", "--experiment_config", big_config(project), "trainer.train"],
        cwd=project, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=full)
    os.close(terminal)
    if answer:
        os.write(controller, answer)
    else:
        os.write(controller, b"\x04")  # Ctrl-D: end of input
    _, err = proc.communicate(timeout=60)
    os.close(controller)
    return proc.returncode, err.decode()


def test_on_a_terminal_no_submits_nothing_and_end_of_input_refuses(project, tmp_path_factory):
    env = {**UNREACHABLE, "CALIBAN_HOME": str(tmp_path_factory.mktemp("home"))}
    code, err = _on_a_terminal(project, b"n\n", env)
    assert "Submit 101 jobs to local (experiment group" in err
    assert code == 1 and "nothing submitted" in err and "127.0.0.1:1" not in err
    code, err = _on_a_terminal(project, b"", env)
    assert code == 2 and "the input ended before an answer; pass --yes" in err
    code, err = _on_a_terminal(project, b"y\n", env)
    assert "127.0.0.1:1" in err  # yes: on to the (unreachable) job service


# --------------------------------------------- item 16: a mistyped group is named as such

def test_status_of_a_mistyped_group_names_the_nearest_recorded_groups(project,
                                                                      tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    with History(home / "history.sqlite") as history:
        for name in ("me-xgroup-2026-01-02-03-04-05", "lr-sweep", "other"):
            history.add_group(name, backend="vertex", project="p", region="us-central1")
    for command in ("status", "stop", "resubmit"):
        r = caliban(project, command, "--xgroup", "lr-swep",
                    env={"CALIBAN_HOME": str(home)})
        assert r.returncode == 1, r.stderr
        assert "no Google Cloud project" not in r.stderr
        assert f"caliban {command}: error: no experiment group 'lr-swep' is recorded in " \
               f"{home / 'history.sqlite'}; did you mean lr-sweep?" in r.stderr
        assert "pass --project_id" in r.stderr


def test_status_of_an_unknown_group_with_nothing_close(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    r = caliban(project, "status", "--xgroup", "typo", env={"CALIBAN_HOME": str(home)})
    assert r.returncode == 1
    assert "no experiment group 'typo' is recorded" in r.stderr
    assert "list recent groups with `caliban status`" in r.stderr


# ------------------------------------------------ item 15: an existing file is a file


def test_a_notebook_whose_name_has_a_space_is_a_notebook_not_code(project, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    import caliban_jupyter

    nbformat.write(new_notebook(cells=[new_code_cell("print('nb')")]),
                   project / "my analysis.ipynb")
    monkeypatch.chdir(project)
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "CALIBAN_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    dry = caliban_jupyter.cloud("my analysis.ipynb", backend="local", nogpu=True,
                                dry_run=True)
    assert dry.plan.target is not None
    assert (dry.plan.target.kind, dry.plan.target.path) == ("notebook", "my analysis.ipynb")
    # Code is still code, even when it could be a file name.
    code = caliban_jupyter.cloud("print(1 + 1)", backend="local", nogpu=True, dry_run=True)
    assert code.plan.target is None and "print(1 + 1)" in code.plan.program

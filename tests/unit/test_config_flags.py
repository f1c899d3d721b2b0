"""caliban cloud's job flags kept in .calibanconfig.json (what an export writes there)."""

from __future__ import annotations

import json

import pytest

from caliban_jupyter.errors import ConfigError
from caliban_jupyter.service.plan import CloudRequest, plan_from_request, with_config_flags
from caliban_jupyter.settings import job_flags, load_config_file
from caliban_jupyter.spec.runtime import RuntimeFlags


def write_config(path, data):
    (path / ".calibanconfig.json").write_text(json.dumps(data))


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1\n")
    (tmp_path / "exp.json").write_text('{"lr": [0.1, 0.2]}')
    return tmp_path


def plan(project, **flags):
    flags.setdefault("backend", "local")
    return plan_from_request(CloudRequest(module="train.py", cwd=str(project), env={},
                                          **flags))


def test_job_flags_are_accepted_and_used_by_the_plan(project):
    write_config(project, {"nogpu": True, "machine_type": "n1-standard-4",
                           "experiment_config": "exp.json", "name": "run",
                           "labels": {"team": "vision", "epochs": 3}, "dirs": ["data"],
                           "args": ["--epochs", "3"], "region": "europe-west4"})
    p = plan(project)
    assert p.machine.machine_type == "n1-standard-4" and p.machine.accelerator_type is None
    assert [s.args for s in p.specs] == [("--epochs", "3", "--lr", "0.1"),
                                         ("--epochs", "3", "--lr", "0.2")]
    assert p.name == "run" and p.settings.region == "europe-west4"
    assert p.specs[0].labels["team"] == "vision" and p.specs[0].labels["epochs"] == "3"
    assert p.request.dirs == ("data",)


def test_a_flag_given_wins_and_the_machine_flags_go_together(project):
    write_config(project, {"nogpu": True, "machine_type": "n1-standard-4", "name": "cfg",
                           "labels": {"team": "a"}, "args": ["--epochs", "3"]})
    p = plan(project, gpu_spec="1xT4", name="flag", labels=("team=b",),
             script_args=("--seed", "1"))
    # --gpu_spec replaces the file's nogpu AND its machine type (n1-standard-4 is fine for a
    # T4 too, so the default shows that the file's value was dropped).
    assert p.machine.accelerator_type == "NVIDIA_TESLA_T4"
    assert p.machine.machine_type == "n1-standard-8"
    assert p.name == "flag"
    assert p.specs[0].labels["team"] == "b"
    assert p.specs[0].args == ("--epochs", "3", "--seed", "1")


def test_runtime_flags_in_the_file_and_scheduling_flags_go_together(project):
    write_config(project, {"spot": True, "workers": 2, "worker_gpu_spec": "none",
                           "timeout": "2h", "env": {"A": "1"}})
    p = plan(project, nogpu=True)
    assert p.runtime.scheduling.strategy == "SPOT" and p.runtime.workers.replica_count == 2
    assert p.runtime.workers.machine.accelerator_type is None
    given = with_config_flags(CloudRequest(
        module="train.py", cwd=str(project), runtime=RuntimeFlags(flex_start=True,
                                                                  workers="1"))).runtime
    assert (given.spot, given.flex_start, given.workers) == (False, True, "1")


def test_merging_twice_changes_nothing(project):
    write_config(project, {"labels": {"team": "a"}, "dirs": ["data"], "extras": ["x"],
                           "args": ["--epochs", "3"], "experiment_config": "exp.json"})
    once = with_config_flags(CloudRequest(module="train.py", cwd=str(project),
                                          labels=("k=v",)))
    assert once.labels == ("team=a", "k=v") and once.script_args == ("--epochs", "3")
    assert with_config_flags(once) == once


def test_without_job_keys_the_request_is_unchanged(project):
    write_config(project, {"project_id": "p"})
    request = CloudRequest(module="train.py", cwd=str(project))
    assert with_config_flags(request) is request
    assert job_flags(project) == {}


@pytest.mark.parametrize(("data", "message"), [
    ({"nogpu": "yes"}, "'nogpu' must be true or false"),
    ({"spot": 1}, "'spot' must be true or false"),
    ({"workers": True}, "'workers' must be the number of worker replicas"),
    ({"gpu_spec": 2}, "'gpu_spec' must be GPUs per job"),
    ({"dirs": "data"}, "'dirs' must be a list of directories"),
    ({"args": ["--epochs", 3]}, "'args' must be a list of arguments"),
    ({"labels": ["team=a"]}, "'labels' must be an object"),
    ({"labels": {"team": ["a"]}}, "each value a string or a number"),
    ({"gpuspec": "1xT4"}, "unknown key 'gpuspec'.*allowed keys: .*gpu_spec"),
])
def test_bad_job_keys_are_named(tmp_path, data, message):
    write_config(tmp_path, data)
    with pytest.raises(ConfigError, match=message):
        load_config_file(tmp_path)

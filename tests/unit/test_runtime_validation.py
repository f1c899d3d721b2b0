"""Every validation rule of the runtime settings (issue 13), through the planner every
front end calls: one clear message each, with the nearest valid choice. Pure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from caliban_jupyter.errors import ConfigError, SpecError, UsageError
from caliban_jupyter.service.plan import CloudRequest, Plan, plan_from_request
from caliban_jupyter.spec.runtime import RuntimeFlags
from caliban_jupyter.spec.scheduling import parse_duration


def plan(tmp_path: Any, *, gpu_spec: str | None = None, tpu_spec: str | None = None,
         nogpu: bool = False, machine_type: str | None = None, force: bool = False,
         **runtime: Any) -> Plan:
    request = CloudRequest(program="print(1)", backend="local", cwd=str(tmp_path), env={},
                           gpu_spec=gpu_spec, tpu_spec=tpu_spec, nogpu=nogpu,
                           machine_type=machine_type, force=force,
                           runtime=RuntimeFlags(**runtime))
    return plan_from_request(request)


def error(tmp_path: Any, **kw: Any) -> str:
    with pytest.raises(UsageError) as info:
        plan(tmp_path, **kw)
    return str(info.value)


# -- scheduling ------------------------------------------------------------------------


def test_spot_and_flex_start_together(tmp_path):
    msg = error(tmp_path, gpu_spec="1xH100", spot=True, flex_start=True)
    assert msg.startswith("--spot and --flex_start cannot be combined")
    assert "keep one of the two" in msg


def test_flex_start_needs_a_gpu_it_queues(tmp_path):
    msg = error(tmp_path, gpu_spec="2xT4", flex_start=True)
    assert msg == ("--flex_start queues only A100, A100_80GB, L4, H100, H100_MEGA, H200, B200 "
                   "GPUs, but this job has 2 x NVIDIA_TESLA_T4 on n1-standard-8; e.g. "
                   "--gpu_spec 2xA100 --flex_start, or use --spot for cheaper capacity on "
                   "other hardware")


def test_flex_start_without_any_gpu(tmp_path):
    msg = error(tmp_path, nogpu=True, flex_start=True)
    assert "but this job has no GPU (n1-highcpu-32); e.g. --gpu_spec 1xA100 --flex_start" \
        in msg


def test_flex_start_timeout_over_seven_days(tmp_path):
    msg = error(tmp_path, gpu_spec="8xH100", flex_start=True, timeout="8d")
    assert msg == ("--timeout 8d is 8d, but a flex-start job runs at most 7 days; use "
                   "--timeout 7d (or less), or drop --flex_start")
    assert plan(tmp_path, gpu_spec="8xH100", flex_start=True, timeout="7d").specs


def test_flex_start_pools_must_match(tmp_path):
    msg = error(tmp_path, gpu_spec="1xA100", flex_start=True, workers="2",
                worker_gpu_spec="2xA100")
    assert msg == ("--flex_start needs one machine configuration in every worker pool, but "
                   "the chief runs a2-highgpu-1g + 1 x NVIDIA_TESLA_A100 and the workers "
                   "a2-highgpu-2g + 2 x NVIDIA_TESLA_A100; drop --worker_machine_type and "
                   "--worker_gpu_spec so the workers match the chief")
    same = plan(tmp_path, gpu_spec="1xA100", flex_start=True, workers="2")
    assert same.runtime.workers is not None
    assert same.runtime.workers.machine == same.machine


def test_restart_with_retries_disabled(tmp_path):
    assert error(tmp_path, nogpu=True, restart_on_worker_restart=True,
                 disable_retries=True) == (
        "--disable_retries turns --restart_on_worker_restart off (Vertex AI then never "
        "restarts the job); keep one of the two")


def test_max_wait_without_flex_start(tmp_path):
    msg = error(tmp_path, gpu_spec="1xH100", max_wait="2h")
    assert msg == ("--max_wait 2h only applies to flex-start jobs (how long to wait for "
                   "capacity); add --flex_start, or drop --max_wait")


@pytest.mark.parametrize("text, expected", [
    ("90m", 5400), ("2h", 7200), ("3600s", 3600), ("1d", 86400), ("1h30m", 5400),
    (" 2H ", 7200), ("0.5m", 30),
])
def test_durations(text, expected):
    assert parse_duration(text, "--timeout") == expected


@pytest.mark.parametrize("text, message", [
    ("90x", "--timeout '90x' is not a duration: write a number and a unit: 90m, 2h, 3600s "
            "or 1d"),
    ("90", "--timeout '90' is not a duration: write a number and a unit: 90m, 2h, 3600s or "
           "1d; did you mean 90s?"),
    ("soon", "--timeout 'soon' is not a duration"),
    ("1.5s", "--timeout '1.5s' is not a whole number of seconds; e.g. --timeout 1s"),
    ("0s", "--timeout '0s' must be at least 1s"),
])
def test_malformed_durations(tmp_path, text, message):
    assert error(tmp_path, nogpu=True, timeout=text).startswith(message)


def test_malformed_max_wait(tmp_path):
    msg = error(tmp_path, gpu_spec="1xL4", flex_start=True, max_wait="forever")
    assert msg.startswith("--max_wait 'forever' is not a duration")


# -- runtime ---------------------------------------------------------------------------


def test_tensorboard_needs_a_service_account(tmp_path):
    msg = error(tmp_path, nogpu=True,
                tensorboard="projects/p/locations/us-central1/tensorboards/1")
    assert msg.startswith("--tensorboard needs --service_account")
    assert "e.g. --service_account trainer@PROJECT.iam.gserviceaccount.com" in msg


def test_malformed_tensorboard(tmp_path):
    msg = error(tmp_path, nogpu=True, service_account="a@p.iam.gserviceaccount.com",
                tensorboard="my-board")
    assert msg == ("--tensorboard 'my-board' is not a TensorBoard instance; e.g. "
                   "--tensorboard projects/PROJECT/locations/us-central1/tensorboards/"
                   "1234567890")


@pytest.mark.parametrize("email", ["trainer", "trainer@", "a b@x.com", "x@y"])
def test_malformed_service_account(tmp_path, email):
    assert error(tmp_path, nogpu=True, service_account=email) == (
        f"--service_account {email!r} is not a service account email; e.g. "
        "--service_account trainer@PROJECT.iam.gserviceaccount.com")


def test_malformed_network(tmp_path):
    assert error(tmp_path, nogpu=True, network="my-vpc") == (
        "--network 'my-vpc' is not a VPC network name; Vertex AI peers with "
        "projects/PROJECT_NUMBER/global/networks/NAME, e.g. --network "
        "projects/123456789012/global/networks/my-vpc")


def test_network_needs_the_project_number(tmp_path):
    msg = error(tmp_path, nogpu=True, network="projects/my-proj/global/networks/vpc")
    assert msg.startswith("--network 'projects/my-proj/global/networks/vpc': Vertex AI wants "
                          "the project number, not the project id 'my-proj'; e.g. --network "
                          "projects/123456789012/global/networks/vpc")


@pytest.mark.parametrize("item, message", [
    ("DATA_DIR", "--env 'DATA_DIR' is not KEY=VALUE; e.g. --env DATA_DIR=VALUE"),
    ("1X=2", "--env: '1X' is not an environment variable name (letters, digits and '_', "
             "not starting with a digit); e.g. _1X"),
    ("MY-VAR=2", "--env: 'MY-VAR' is not an environment variable name (letters, digits and "
                 "'_', not starting with a digit); e.g. MY_VAR"),
    ("=x", "--env: '' is not an environment variable name"),
])
def test_malformed_env(tmp_path, item, message):
    assert error(tmp_path, nogpu=True, job_env=(item,)).startswith(message)


@pytest.mark.parametrize("size, message", [
    ("50", "--boot_disk_size 50: Vertex AI boot disks are 100 to 64000 GB; e.g. "
           "--boot_disk_size 100"),
    ("100000", "--boot_disk_size 100000: Vertex AI boot disks are 100 to 64000 GB; e.g. "
               "--boot_disk_size 64000"),
    ("big", "--boot_disk_size 'big' is not a whole number; e.g. --boot_disk_size 200"),
])
def test_boot_disk_size(tmp_path, size, message):
    assert error(tmp_path, nogpu=True, boot_disk_size=size) == message


def test_boot_disk_type_suggests_the_nearest(tmp_path):
    assert error(tmp_path, nogpu=True, boot_disk_type="pd-sdd") == (
        "--boot_disk_type 'pd-sdd' is not a boot disk type Vertex AI training offers. Did "
        "you mean pd-ssd or pd-standard? Boot disk types: pd-ssd, pd-standard, "
        "hyperdisk-balanced")


def test_malformed_reservation(tmp_path):
    msg = error(tmp_path, nogpu=True, reservation="My Reservation")
    assert msg.startswith("--reservation 'My Reservation' is not a reservation name")
    full = "projects/p/zones/us-central1-a/reservations/h100"
    assert plan(tmp_path, nogpu=True, reservation=full).runtime.reservation == full


# -- worker pools ----------------------------------------------------------------------


def test_worker_spec_the_machine_type_cannot_take(tmp_path):
    msg = error(tmp_path, gpu_spec="1xT4", workers="2", worker_machine_type="n1-standard-8",
                worker_gpu_spec="1xA100")
    assert msg == ("workers: n1-standard-8 takes no A100 GPU. Use one of the machine types "
                   "that take 1xA100: a2-highgpu-1g; or drop --worker_machine_type to get "
                   "a2-highgpu-1g")


def test_worker_machine_type_keeps_the_chief_gpus(tmp_path):
    p = plan(tmp_path, gpu_spec="1xV100", workers="2", worker_machine_type="n1-highmem-8")
    assert p.runtime.workers is not None
    w = p.runtime.workers.machine
    assert (w.machine_type, w.accelerator_type, w.accelerator_count) == (
        "n1-highmem-8", "NVIDIA_TESLA_V100", 1)
    msg = error(tmp_path, gpu_spec="1xV100", workers="2", worker_machine_type="n1-highmem-16")
    assert msg.startswith("workers: n1-highmem-16 has 16 vCPUs and 104 GB, but a VM with "
                          "1xV100 may have at most 12 vCPUs and 78 GB")


def test_cpu_workers(tmp_path):
    p = plan(tmp_path, gpu_spec="1xA100", workers="4", worker_gpu_spec="none",
             worker_machine_type="n2-standard-8")
    assert p.runtime.workers.machine.accelerator_type is None
    assert p.runtime.workers.replica_count == 4


def test_tpu_job_with_workers(tmp_path):
    msg = error(tmp_path, tpu_spec="4xV5E", workers="2")
    assert msg == ("--workers 2: Vertex AI runs a V5E TPU job on its TPU VM slice "
                   "(ct5lp-hightpu-4t) alone, and this catalog (2026-11-24) allows no worker "
                   "pool with ct5lp-hightpu; a TPU job grows through a larger slice instead. "
                   "Drop --workers, or use GPUs for multi-machine training, e.g. --gpu_spec "
                   "8xA100 --workers 2")


def test_worker_flags_without_workers(tmp_path):
    assert error(tmp_path, gpu_spec="1xT4", worker_gpu_spec="2xT4") == (
        "--worker_gpu_spec describes the worker machines, but the job has no workers; add "
        "--workers N (e.g. --workers 3), or drop --worker_gpu_spec")


@pytest.mark.parametrize("workers, message", [
    ("three", "--workers 'three' is not a whole number; e.g. --workers 3"),
    ("-1", "--workers -1: the number of workers must be 0 or more, e.g. --workers 3"),
])
def test_bad_worker_counts(tmp_path, workers, message):
    assert error(tmp_path, nogpu=True, workers=workers) == message


def test_zero_workers_is_one_machine(tmp_path):
    p = plan(tmp_path, nogpu=True, workers="0")
    assert len(p.specs[0].to_custom_job()["jobSpec"]["workerPoolSpecs"]) == 1


# -- persistent settings ---------------------------------------------------------------


def write_config(tmp_path: Any, data: dict[str, Any]) -> None:
    (tmp_path / ".calibanconfig.json").write_text(json.dumps(data))


def test_runtime_settings_from_the_config_file(tmp_path):
    write_config(tmp_path, {"service_account": "sa@p.iam.gserviceaccount.com",
                            "network": "projects/1/global/networks/vpc", "timeout": "2h",
                            "boot_disk_type": "pd-standard",
                            "env": {"A": "from-config", "B": 2}})
    p = plan(tmp_path, nogpu=True, job_env=("A=from-flag", "C=3"), timeout="30m")
    job = p.specs[0].to_custom_job()["jobSpec"]
    assert job["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
    assert job["network"] == "projects/1/global/networks/vpc"
    assert job["scheduling"] == {"timeout": "1800s"}  # the flag wins
    assert job["workerPoolSpecs"][0]["diskSpec"] == {"bootDiskType": "pd-standard"}
    assert job["workerPoolSpecs"][0]["containerSpec"]["env"] == [
        {"name": "A", "value": "from-flag"}, {"name": "B", "value": "2"},
        {"name": "C", "value": "3"}]
    assert p.settings.sources["service_account"] == ".calibanconfig.json"


def test_a_bad_value_in_the_config_file_says_where_it_came_from(tmp_path):
    write_config(tmp_path, {"timeout": "soon"})
    assert error(tmp_path, nogpu=True).startswith(
        "timeout (from .calibanconfig.json) 'soon' is not a duration")


@pytest.mark.parametrize("data, message", [
    ({"env": ["A=1"]}, "'env' must be environment variables of every job"),
    ({"env": {"A": True}}, "'env' must be environment variables of every job"),
    ({"boot_disk_size": [100]}, "'boot_disk_size' must be boot disk size in GB"),
    ({"service_account": 3}, "'service_account' must be the jobs' service account email"),
])
def test_config_file_types(tmp_path, data, message):
    write_config(tmp_path, data)
    with pytest.raises(ConfigError, match=message):
        plan(tmp_path, nogpu=True)


def test_spec_errors_are_usage_errors():
    assert issubclass(SpecError, UsageError)

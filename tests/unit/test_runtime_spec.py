"""Runtime settings everywhere the user sees them: flags of every front end, the dry run
(secrets masked, env never a label), status, resubmission, and the catalog checked against
the installed SDK. Pure (the CLI runs as a subprocess, with --dry_run)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import caliban

from caliban_jupyter.notebook.args import cloud_parser, namespace_from_options, parse_line
from caliban_jupyter.records import JobRecord, record_from_custom_job, spec_from_record
from caliban_jupyter.service.plan import CloudRequest, plan_from_request
from caliban_jupyter.settings import resolve_settings
from caliban_jupyter.spec.catalog import CATALOG_PATH, Catalog, get_catalog
from caliban_jupyter.spec.runtime import JobRuntime, RuntimeFlags, is_secret_name, shown_env
from caliban_jupyter.tables import render_table

# -- the catalog against the installed SDK ---------------------------------------------


def sdk_accelerator_types(catalog: Catalog) -> dict[str, Any]:
    """Each catalog accelerator -> its ``aiplatform_v1.AcceleratorType`` member.

    Raises AssertionError naming the accelerators the SDK has no member for.
    """
    from google.cloud import aiplatform_v1

    members = aiplatform_v1.AcceleratorType.__members__
    missing = sorted(a.short for a in catalog.accelerators.values() if a.vertex not in members)
    assert not missing, f"catalog accelerators with no AcceleratorType in the SDK: {missing}"
    return {a.short: members[a.vertex] for a in catalog.accelerators.values()}


def test_every_catalog_accelerator_is_an_sdk_accelerator_type():
    from google.cloud import aiplatform_v1

    mapped = sdk_accelerator_types(get_catalog())
    assert set(mapped) == set(get_catalog().accelerators)
    assert mapped["V5E"] == aiplatform_v1.AcceleratorType.TPU_V5_LITEPOD
    assert mapped["H100"] == aiplatform_v1.AcceleratorType.NVIDIA_H100_80GB
    assert mapped["B200"] == aiplatform_v1.AcceleratorType.NVIDIA_B200


def test_the_sdk_check_fails_for_an_accelerator_the_sdk_lacks():
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    data["accelerators"]["X9"] = {"kind": "gpu", "vertex": "NVIDIA_X9", "regions": []}
    with pytest.raises(AssertionError, match=r"no AcceleratorType in the SDK: \['X9'\]"):
        sdk_accelerator_types(Catalog(data))


def test_flex_start_accelerators_are_catalog_data():
    cat = get_catalog()
    assert sorted(a.short for a in cat.accelerators.values() if a.flex_start) == [
        "A100", "A100_80GB", "B200", "H100", "H100_MEGA", "H200", "L4"]
    assert not cat.families["ct5lp-hightpu"].workers
    assert cat.families["a3-highgpu"].workers


# -- flags of every front end ----------------------------------------------------------

LINE = ("--spot --timeout 2h --env A=1 --env API_TOKEN=x --workers 3 "
        "--worker_machine_type n1-standard-16 --boot_disk_size 200 "
        "--restart_on_worker_restart -- --lr 1")


def test_magic_line_and_api_options_give_the_same_request(tmp_path):
    from_line = parse_line(cloud_parser(), LINE)
    from_api = namespace_from_options(cloud_parser(), {
        "spot": True, "timeout": "2h", "env": {"A": "1", "API_TOKEN": "x"}, "workers": 3,
        "worker_machine_type": "n1-standard-16", "boot_disk_size": 200,
        "restart_on_worker_restart": True}, what="cloud()")
    a = RuntimeFlags.from_namespace(from_line)
    b = RuntimeFlags.from_namespace(from_api)
    assert a == b == RuntimeFlags(spot=True, timeout="2h", job_env=("A=1", "API_TOKEN=x"),
                                  workers="3", worker_machine_type="n1-standard-16",
                                  boot_disk_size="200", restart_on_worker_restart=True)
    request = CloudRequest.from_namespace(from_line, program="print(1)", cwd=str(tmp_path),
                                          backend="local", env={})
    assert request.runtime == a
    assert request.env == {}  # the process environment is not the jobs' --env


def test_cli_dry_run_shows_strategy_pools_and_masked_env(project):
    r = caliban(project, "cloud", "--dry_run", "--project_id", "p", "--image_tag", "i:1",
                "--gpu_spec", "1xV100", "--spot", "--timeout", "90m", "--workers", "2",
                "--env", "DATA_DIR=/data", "--env", "HF_TOKEN=hf_abc", "--env",
                "DB_PASSWORD=pa55w0rd", "trainer.train")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "  strategy:    SPOT, timeout 1h30m\n" in out
    assert ("  pools:       workerpool0 (chief) 1 x n1-standard-8 + 1 x NVIDIA_TESLA_V100; "
            "workerpool1 2 x n1-standard-8 + 1 x NVIDIA_TESLA_V100\n") in out
    assert "  env:         DATA_DIR=/data, HF_TOKEN=****, DB_PASSWORD=****\n" in out
    assert "hf_abc" not in out and "pa55w0rd" not in out
    # Env is never a label.
    labels = next(line for line in out.splitlines() if "labels:" in line)
    assert "data" not in labels.lower() and "token" not in labels.lower()


def test_cli_dry_run_json_is_the_request(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                "--image_tag", "i:1", "--nogpu", "--flex_start", "trainer.train")
    assert r.returncode == 2
    assert "--flex_start queues only" in r.stderr and "Traceback" not in r.stderr
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                "--image_tag", "i:1", "--gpu_spec", "1xL4", "--flex_start", "--max_wait",
                "30m", "--env", "K=v", "trainer.train")
    assert r.returncode == 0, r.stderr
    (body,) = json.loads(r.stdout)["jobs"]
    assert body["jobSpec"]["scheduling"] == {"strategy": "FLEX_START",
                                             "maxWaitDuration": "1800s"}
    assert body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"] == [
        {"name": "K", "value": "v"}]
    assert "k" not in body["labels"]


def test_a_job_without_runtime_settings_is_sent_as_before(tmp_path):
    # Vertex without an output_dir: the local backend would add the job's output location
    # (baseOutputDirectory), which is not a runtime setting.
    request = CloudRequest(program="print(1)", backend="vertex", project_id="p",
                           cwd=str(tmp_path), env={}, nogpu=True)
    (spec,) = plan_from_request(request).specs
    assert spec.runtime is None
    assert spec.to_custom_job()["jobSpec"] == {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-highcpu-32"}, "replicaCount": "1",
        "containerSpec": {"imageUri": "", "args": []}}]}


@pytest.mark.parametrize("name, secret", [
    ("API_TOKEN", True), ("aws_secret_access_key", True), ("DB_PASSWORD", True),
    ("GOOGLE_APPLICATION_CREDENTIALS", True), ("DATA_DIR", False), ("EPOCHS", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret
    assert shown_env([(name, "v")]) == [f"{name}={'****' if secret else 'v'}"]


def test_config_view_masks_env_values(tmp_path):
    (tmp_path / ".calibanconfig.json").write_text(json.dumps(
        {"env": {"WANDB_API_KEY": "k3y", "MODE": "fast"}, "timeout": "1d"}))
    shown = resolve_settings({}, cwd=tmp_path, env={}).to_json()
    assert shown["env"] == "WANDB_API_KEY=****, MODE=fast"
    assert shown["timeout"] == "1d"


# -- status and resubmission -----------------------------------------------------------


def returned_job(web: dict[str, str] | None = None, **job_spec: Any) -> dict[str, Any]:
    job = {
        "name": "projects/1/locations/us-central1/customJobs/7", "displayName": "run_1",
        "state": "JOB_STATE_RUNNING", "labels": {"xgroup": "g", "caliban_index": "1"},
        "jobSpec": {"workerPoolSpecs": [{
            "machineSpec": {"machineType": "a3-highgpu-8g",
                            "acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 8,
                            "reservationAffinity": {
                                "reservationAffinityType": "SPECIFIC_RESERVATION",
                                "key": "compute.googleapis.com/reservation-name",
                                "values": ["r1"]}},
            "replicaCount": "1",
            "containerSpec": {"imageUri": "img:1", "args": ["--lr", "1"],
                              "env": [{"name": "A", "value": "1"}]},
            "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 300}},
            {"machineSpec": {"machineType": "a3-highgpu-8g",
                             "acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 8},
             "replicaCount": "3", "containerSpec": {"imageUri": "img:1"}}],
            **job_spec},
    }
    if web:
        job["webAccessUris"] = web
    return job


def test_status_shows_strategy_and_web_access_uris():
    web = {"workerpool0-0": "https://abc-dot-us-central1.aiplatform.dev"}
    rec = record_from_custom_job(returned_job(web, scheduling={"strategy": "SPOT"},
                                              enableWebAccess=True), backend="vertex",
                                 project="p", url="https://console/7")
    assert rec.strategy == "SPOT"
    assert rec.web_access_uris == {"workerpool0-0": "https://abc-dot-us-central1.aiplatform.dev"}
    assert JobRecord.from_json(rec.to_json()) == rec
    table = render_table([rec])
    assert "STRATEGY" in table.splitlines()[1]
    row = table.splitlines()[2]
    assert "RUNNING" in row and " SPOT " in row
    assert table.splitlines()[3] == ("    web access workerpool0-0: "
                                     "https://abc-dot-us-central1.aiplatform.dev")
    plain = record_from_custom_job(returned_job(), backend="vertex")
    assert plain.strategy == "on-demand" and "web access" not in render_table([plain])


def test_resubmission_keeps_the_runtime_settings():
    job = returned_job(scheduling={"strategy": "FLEX_START", "timeout": "3600s",
                                   "maxWaitDuration": "600s"},
                       serviceAccount="sa@p.iam.gserviceaccount.com", enableWebAccess=True)
    rec = record_from_custom_job(job, backend="vertex", project="p")
    spec = spec_from_record(rec, display_name="run_1_again")
    assert spec.runtime is not None
    assert spec.runtime.workers is not None and spec.runtime.workers.replica_count == 3
    sent = spec.to_custom_job()["jobSpec"]
    assert sent["scheduling"] == job["jobSpec"]["scheduling"]
    assert sent["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
    assert sent["enableWebAccess"] is True
    chief, workers = sent["workerPoolSpecs"]
    assert chief["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 300}
    assert chief["machineSpec"]["reservationAffinity"]["values"] == ["r1"]
    assert chief["containerSpec"]["env"] == [{"name": "A", "value": "1"}]
    assert workers["replicaCount"] == "3"
    # The runtime round-trips through its own JSON form.
    assert JobRuntime.from_job_spec(sent) == spec.runtime


def test_old_records_resubmit_without_runtime():
    rec = record_from_custom_job({"name": "projects/1/locations/l/customJobs/1",
                                  "jobSpec": {"workerPoolSpecs": [{
                                      "machineSpec": {"machineType": "n1-standard-4"},
                                      "replicaCount": "1",
                                      "containerSpec": {"imageUri": "i"}}]}},
                                 backend="local")
    assert spec_from_record(rec, display_name="x").runtime is None

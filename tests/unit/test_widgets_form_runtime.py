"""The form's Spot/flex-start, timeout and worker controls: the same validation inline as
the CLI's, and what they put in the request (no kernel)."""

from __future__ import annotations

import pytest

from caliban_jupyter.widgets.form import CalibanForm


@pytest.fixture
def project(tmp_path, monkeypatch):
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "REGION", "CALIBAN_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "train.py").write_text("print('hi')\n")
    return tmp_path


def make(project, **initial) -> CalibanForm:
    initial.setdefault("backend", "local")
    return CalibanForm("train.py", initial=initial, cwd=str(project),
                       table_options={"autostart": False})


def job_spec(form: CalibanForm) -> dict:
    assert form.plan is not None, form.error
    return form.plan.specs[0].to_custom_job()["jobSpec"]


def test_spot_timeout_and_workers_reach_the_request(project):
    f = make(project)
    r = f.runtime
    r.strategy.value = "spot"
    r.texts["timeout"].value = "90m"
    r.texts["workers"].value = "3"
    r.texts["job_env"].value = "DATA=/d, HF_TOKEN=abc"
    spec = job_spec(f)
    assert spec["scheduling"] == {"timeout": "5400s", "strategy": "SPOT"}
    assert [p["replicaCount"] for p in spec["workerPoolSpecs"]] == ["1", "3"]
    assert spec["workerPoolSpecs"][1]["containerSpec"]["env"] == [
        {"name": "DATA", "value": "/d"}, {"name": "HF_TOKEN", "value": "abc"}]
    preview = f.preview.value
    assert "strategy:    SPOT, timeout 1h30m" in preview
    assert "workerpool1 3 x n1-standard-8" in preview
    assert "HF_TOKEN=****" in preview and "abc" not in preview
    assert not f.submit_button.disabled


def test_flex_start_is_validated_inline_like_the_cli(project):
    f = make(project)
    r = f.runtime
    assert r.texts["max_wait"].layout.display == "none"  # only for flex-start
    r.strategy.value = "flex_start"
    assert r.texts["max_wait"].layout.display is None
    assert f.error.startswith("--flex_start queues only A100")
    assert "e.g. --gpu_spec 1xA100 --flex_start" in f.error
    assert f.submit_button.disabled and f.dry_run_button.disabled
    f.accelerator.value = "H100"
    r.texts["max_wait"].value = "2h"
    assert f.error is None
    assert job_spec(f)["scheduling"] == {"strategy": "FLEX_START", "maxWaitDuration": "7200s"}


def test_bad_timeout_and_workers_are_explained(project):
    f = make(project)
    f.runtime.texts["timeout"].value = "soon"
    assert f.error.startswith("--timeout 'soon' is not a duration")
    f.runtime.texts["timeout"].value = "2h"
    f.runtime.texts["workers"].value = "many"
    assert f.error == "--workers 'many' is not a whole number; e.g. --workers 3"
    f.runtime.texts["workers"].value = "2"
    f.runtime.texts["worker_gpu_spec"].value = "1xA100"
    f.runtime.texts["worker_machine_type"].value = "n1-standard-8"
    assert f.error.startswith("workers: n1-standard-8 takes no A100 GPU")
    f.runtime.texts["worker_machine_type"].value = ""
    assert f.error is None
    assert job_spec(f)["workerPoolSpecs"][1]["machineSpec"]["machineType"] == "a2-highgpu-1g"


def test_prefilled_from_flags(project):
    f = make(project, spot=True, timeout="2h", job_env=["A=1"], workers="2",
             boot_disk_type="pd-standard", enable_web_access=True)
    r = f.runtime
    assert r.strategy.value == "spot" and r.texts["timeout"].value == "2h"
    assert r.texts["job_env"].value == "A=1" and r.texts["workers"].value == "2"
    assert r.boot_disk_type.value == "pd-standard" and r.checks["enable_web_access"].value
    spec = job_spec(f)
    assert spec["enableWebAccess"] is True
    assert spec["workerPoolSpecs"][0]["diskSpec"] == {"bootDiskType": "pd-standard"}
    assert make(project, env={"B": "2"}).runtime.texts["job_env"].value == "B=2"
    bad = make(project, boot_disk_type="pd-sdd")
    assert bad.runtime.boot_disk_type.value == "pd-sdd"
    assert bad.error.startswith("--boot_disk_type 'pd-sdd' is not a boot disk type")

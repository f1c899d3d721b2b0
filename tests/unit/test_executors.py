"""Executor images (the dated list) and how a job's request carries a code package."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from caliban_jupyter.errors import UsageError
from caliban_jupyter.records import record_from_custom_job, spec_from_record
from caliban_jupyter.spec.executors import (
    IMAGES_PATH,
    ExecutorImage,
    PackageRun,
    executor_images,
    expiry_warning,
    pool_image_and_args,
    resolve_executor,
)
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

PKG = "gs://b/pre/caliban/packages/caliban_job-0+0123456789abcdef.tar.gz"
DATA = "gs://b/pre/caliban/packages/caliban_data-0+fedcba9876543210.tar.gz"


def test_the_data_file_is_dated_and_cites_its_source():
    meta = json.loads(IMAGES_PATH.read_text())["_meta"]
    as_of = dt.date.fromisoformat(meta["as_of"])
    assert any("pre-built-containers" in s["url"] for s in meta["sources"])
    data = executor_images()
    for name, row in data["images"].items():
        framework, version, accel = name.rsplit("-", 2)
        assert (row["version"], row["accelerator"]) == (version, accel), name
        assert row["path"].startswith("vertex-ai/training/") and row["path"].endswith(":latest")
        dt.date.fromisoformat(row["end_of_availability"])
        assert row["source"].startswith("https://"), name
    for name, row in data["maintained"].items():
        assert row["runs_as"] == "containerSpec" and row["uri"] and row["source"], name
        dt.date.fromisoformat(row["end_of_availability"])
    assert set(data["defaults"]) == {"cpu", "gpu", "tpu"}
    table = {**data["images"], **data["maintained"]}
    for mode, name in data["defaults"].items():
        assert table[name]["accelerator"] in (mode, "any"), mode
        # A default is never past its end of availability on the day the file was compiled.
        assert dt.date.fromisoformat(table[name]["end_of_availability"]) > as_of, name


def test_every_default_is_current_today():
    """Issue 19: the no-Docker path's default must be an image Vertex still runs."""
    today = dt.date(2026, 12, 8)
    for mode in ("cpu", "gpu", "tpu"):
        image = resolve_executor(None, region="us-central1", mode=mode)
        assert not image.expired(today), image
        assert expiry_warning(image, today) is None


@pytest.mark.parametrize("region, host", [
    ("us-central1", "us-docker.pkg.dev"), ("europe-west4", "europe-docker.pkg.dev"),
    ("asia-northeast1", "asia-docker.pkg.dev"), ("australia-southeast1", "asia-docker.pkg.dev"),
    ("northamerica-northeast1", "us-docker.pkg.dev"), ("me-west1", "europe-docker.pkg.dev"),
])
def test_short_name_resolves_to_the_nearest_registry(region, host):
    image = resolve_executor("pytorch-2.4-gpu", region=region, mode="cpu")
    assert image.uri == f"{host}/vertex-ai/training/pytorch-gpu.2-4.py310:latest"
    assert (image.name, image.framework, image.accelerator) == ("pytorch-2.4-gpu", "pytorch",
                                                                "gpu")


def test_short_names_are_case_insensitive():
    assert resolve_executor("SKLearn-1.6-CPU", region="us-central1", mode="gpu").name == \
        "sklearn-1.6-cpu"


def test_defaults_per_mode():
    for mode in ("cpu", "gpu", "tpu"):
        image = resolve_executor(None, region="us-central1", mode=mode)
        assert (image.uri, image.name, image.runs_as) == ("python:3.12-slim", "python-3.12",
                                                         "containerSpec")
        assert not image.explicit


def test_unknown_short_name_suggests_the_nearest():
    with pytest.raises(UsageError) as e:
        resolve_executor("pytorch-2.4-gpuu", region="us-central1", mode="gpu")
    msg = str(e.value)
    assert "'pytorch-2.4-gpuu' is not a known Vertex prebuilt training image" in msg
    assert "Did you mean pytorch-2.4-gpu" in msg
    assert "or pass an image URI" in msg


def test_uris_are_used_as_given_and_recognised_when_catalogued():
    known = resolve_executor("europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
                             region="us-central1", mode="cpu")
    assert known.uri == "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
    assert known.name == "tf-2.17-cpu"
    mine = resolve_executor("127.0.0.1:5000/team/py:3", region="us-central1", mode="cpu")
    assert (mine.uri, mine.name) == ("127.0.0.1:5000/team/py:3", None)
    local = resolve_executor("caliban-base:bookworm-py3", region="us-central1", mode="cpu")
    assert (local.uri, local.name) == ("caliban-base:bookworm-py3", None)


def test_expired_images_are_said_in_one_line():
    image = resolve_executor("tf-2.15-cpu", region="us-central1", mode="cpu")
    assert image.explicit
    assert expiry_warning(image, dt.date(2025, 11, 14)) is None
    warning = expiry_warning(image, dt.date(2025, 11, 15))
    assert warning and "reached its end of availability on 2025-11-14" in warning
    assert "Vertex AI (Gemini Enterprise Agent Platform)" in warning
    assert "the current choice is --executor_image python-3.12 (python:3.12-slim" in warning
    assert "\n" not in warning
    assert expiry_warning(resolve_executor("x/y:1", region="us-central1", mode="cpu"),
                          dt.date(2099, 1, 1)) is None


def test_an_expired_default_is_refused_with_the_alternative():
    # A default nobody named (an old copy of the data file) past its date: refused.
    stale = ExecutorImage(uri="us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
                          name="sklearn-1.6-cpu", accelerator="cpu",
                          end_of_availability="2026-07-11")
    with pytest.raises(UsageError) as e:
        expiry_warning(stale, dt.date(2026, 12, 8))
    assert "sklearn-1.6-cpu" in str(e.value) and "it is the default" in str(e.value)
    assert "--executor_image python-3.12 (python:3.12-slim, available until 2028-10-02)" \
        in str(e.value)


def _spec(package: PackageRun | None) -> JobSpec:
    return JobSpec(display_name="run_1", index=1, region="us-central1",
                   image_uri="us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
                   args=("--lr", "0.1"), labels={"xgroup": "g"},
                   machine=MachineSpec("n1-highcpu-32"), package=package)


def test_python_package_spec_body():
    body = _spec(PackageRun((DATA, PKG))).to_custom_job()
    assert body["jobSpec"]["workerPoolSpecs"] == [{
        "machineSpec": {"machineType": "n1-highcpu-32"},
        "replicaCount": "1",
        "pythonPackageSpec": {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
            "packageUris": [DATA, PKG],
            "pythonModule": "caliban_job",
            "args": ["--lr", "0.1"],
        },
    }]


def test_env_moves_to_the_python_package_spec():
    body = _spec(None).to_custom_job()
    body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"] = [{"name": "A", "value": "1"}]
    out = PackageRun((PKG,)).apply(body)
    assert out["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["env"] == [
        {"name": "A", "value": "1"}]
    assert "containerSpec" not in out["jobSpec"]["workerPoolSpecs"][0]


def test_container_spec_body_installs_from_the_gcs_mount():
    body = _spec(PackageRun((PKG,), executor=False)).to_custom_job()
    [pool] = body["jobSpec"]["workerPoolSpecs"]
    assert pool["containerSpec"] == {
        "imageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
        "args": ["--lr", "0.1"],
        "command": ["sh", "-c",
                    "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "
                    "--disable-pip-version-check "
                    "/gcs/b/pre/caliban/packages/caliban_job-0+0123456789abcdef.tar.gz "
                    "&& exec python3 -m caliban_job \"$@\"", "caliban_job"],
    }


@pytest.mark.parametrize("run", [PackageRun((DATA, PKG)), PackageRun((PKG,), executor=False)],
                         ids=["pythonPackageSpec", "containerSpec"])
def test_a_recorded_package_job_resubmits_the_same_package(run):
    body = _spec(run).to_custom_job()
    [pool] = body["jobSpec"]["workerPoolSpecs"]
    assert PackageRun.from_pool(pool) == run
    assert pool_image_and_args(pool) == (
        "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest", ("--lr", "0.1"))
    job = {**body, "name": "projects/1/locations/us-central1/customJobs/7",
           "state": "JOB_STATE_FAILED"}
    record = record_from_custom_job(job, backend="vertex", project="p")
    assert record.args == ("--lr", "0.1")
    assert record.image_uri.endswith("sklearn-cpu.1-6:latest")
    again = spec_from_record(record, display_name="run_1-retry1")
    assert again.to_custom_job()["jobSpec"] == body["jobSpec"]


def test_plain_container_pools_are_no_package():
    body = _spec(None).to_custom_job()
    assert PackageRun.from_pool(body["jobSpec"]["workerPoolSpecs"][0]) is None
    body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["command"] = ["sh", "-c", "x", "y"]
    assert PackageRun.from_pool(body["jobSpec"]["workerPoolSpecs"][0]) is None

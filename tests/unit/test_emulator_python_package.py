"""The emulator's reading of pythonPackageSpec: validation and the container it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from caliban_jupyter.emulator.python_package import (
    PackageUnavailable,
    container_spec,
    fetch,
)
from caliban_jupyter.emulator.validation import custom_job_problems

URI = "file:///tmp/stage/caliban/packages/caliban_job-0%2B0123456789abcdef.tar.gz"


def pool(**spec):
    base = {"executorImageUri": "caliban-base:bookworm-py3", "packageUris": [URI],
            "pythonModule": "caliban_job", "args": ["--lr", "1"]}
    base.update(spec)
    return {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
            "pythonPackageSpec": {k: v for k, v in base.items() if v is not None}}


def body(p):
    return {"displayName": "j", "jobSpec": {"workerPoolSpecs": [p]}}


def test_the_container_installs_offline_then_runs_the_module():
    spec = container_spec(pool(env=[{"name": "A", "value": "1"}]))
    assert spec["imageUri"] == "caliban-base:bookworm-py3"
    assert spec["args"] == ["--lr", "1"]
    assert spec["command"] == [
        "sh", "-c",
        'PY=$(command -v python3 || command -v python) && "$PY" -m pip install --quiet '
        "--no-index --no-build-isolation "
        "/tmp/caliban-packages/caliban_job-0+0123456789abcdef.tar.gz && "
        'exec "$PY" -m caliban_job "$@"', "caliban_job"]
    env = {e["name"]: e["value"] for e in spec["env"]}
    assert env == {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
                   "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                   "PIP_ROOT_USER_ACTION": "ignore", "A": "1"}


def test_container_pools_are_run_as_they_are():
    p = {"containerSpec": {"imageUri": "img", "args": ["x"]}}
    assert container_spec(p) == {"imageUri": "img", "args": ["x"]}


def test_a_valid_python_package_spec_passes():
    assert custom_job_problems(body(pool())) == []


@pytest.mark.parametrize("change, field", [
    ({"executorImageUri": None}, "python_package_spec.executor_image_uri"),
    ({"packageUris": []}, "python_package_spec.package_uris"),
    ({"pythonModule": ""}, "python_package_spec.python_module"),
    ({"args": "--lr 1"}, "python_package_spec.args"),
])
def test_python_package_spec_problems_name_the_field(change, field):
    problems = custom_job_problems(body(pool(**change)))
    assert [f for f, _ in problems] == [f"job_spec.worker_pool_specs[0].{field}"]


def test_both_specs_in_one_pool_are_refused():
    p = pool()
    p["containerSpec"] = {"imageUri": "img"}
    assert custom_job_problems(body(p)) == [(
        "job_spec.worker_pool_specs[0]",
        "Set either container_spec or python_package_spec, not both.")]


def test_fetch_reads_local_staging_and_says_what_is_missing(tmp_path: Path):
    staged = tmp_path / "caliban_job-0+ab.tar.gz"
    staged.write_bytes(b"x")
    assert fetch(staged.as_uri(), tmp_path / "cache") == staged
    with pytest.raises(PackageUnavailable, match="does not exist on this machine"):
        fetch((tmp_path / "gone.tar.gz").as_uri(), tmp_path / "cache")
    with pytest.raises(PackageUnavailable, match="file:// or gs://"):
        fetch("https://example.invalid/p.tar.gz", tmp_path / "cache")

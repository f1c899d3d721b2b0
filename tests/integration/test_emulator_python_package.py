"""pythonPackageSpec jobs on the emulator, through the real SDK and the Docker engine:
the package caliban builds installs offline on the Debian base image and runs."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.packaging.context import BuildRequest
from caliban_jupyter.packaging.package import build_part, plan_package
from caliban_jupyter.packaging.staging import GcsStaging, LocalStaging, stage
from caliban_jupyter.spec.target import classify_target

pytestmark = pytest.mark.docker
State = aiplatform_v1.JobState
TRAIN = """\
import sys
import numpy
print("ARGS", *sys.argv[1:])
print("DATA", open("data/points.csv").read().strip())
print("CWD has", sorted(p for p in __import__("os").listdir(".") if not p.startswith(".")))
"""


@pytest.fixture
def emulator(tmp_path: Path, docker_client) -> Iterator[Emulator]:
    runner = RunnerConfig(mode="docker", max_running=2, stop_grace_seconds=2)
    emu = Emulator(EmulatorConfig(state_dir=tmp_path / "state", port=0, runner=runner)).start()
    yield emu
    emu.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "train.py").write_text(TRAIN)
    (root / "data").mkdir()
    (root / "data" / "points.csv").write_text("1,2")
    (root / "requirements.txt").write_text("numpy\n")  # the base image has Debian's numpy
    return root


def staged_uris(project: Path, location: Any, tmp_path: Path) -> list[str]:
    req = BuildRequest(str(project), classify_target("trainer.train", project), dirs=("data",),
                       gpu=False)
    plan = plan_package(req)
    return [stage(location, p.name, lambda p=p: build_part(p, tmp_path / "cache"))[0]
            for p in plan.parts]


def package_job(name: str, image: str, uris: list[str], args: list[str]) -> dict[str, Any]:
    return {"display_name": name, "job_spec": {"worker_pool_specs": [{
        "machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
        "python_package_spec": {"executor_image_uri": image, "package_uris": uris,
                                "python_module": "caliban_job", "args": args}}]}}


def run(emulator: Emulator, body: dict[str, Any]) -> tuple[aiplatform_v1.CustomJob, str]:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=body, timeout=TIMEOUT)
    done = wait_for(lambda: (j := client.get_custom_job(name=job.name, timeout=TIMEOUT)).state
                    in (State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED) and j,
                    what=f"{job.name} to finish")
    with urllib.request.urlopen(f"{emulator.endpoint}/logs/{job.name.rsplit('/', 1)[1]}",
                                timeout=TIMEOUT) as response:
        return done, response.read().decode()


def test_a_local_package_installs_offline_and_runs(emulator, project, base_image, tmp_path):
    uris = staged_uris(project, LocalStaging(tmp_path / "stage"), tmp_path)
    assert all(u.startswith("file://") for u in uris)
    done, log = run(emulator, package_job("pkg", base_image, uris, ["--lr", "0.5", "two words"]))
    assert done.state == State.JOB_STATE_SUCCEEDED, (done.error, log)
    assert "ARGS --lr 0.5 two words\n" in log
    assert "DATA 1,2\n" in log
    assert "CWD has ['data', 'trainer']\n" in log
    # The job's request still reads as pythonPackageSpec.
    spec = done.job_spec.worker_pool_specs[0].python_package_spec
    assert (spec.executor_image_uri, list(spec.package_uris)) == (base_image, uris)


def test_a_package_in_a_bucket(emulator, project, base_image, tmp_path, staging_gcs):
    bucket = staging_gcs.new_bucket()
    uris = staged_uris(project, GcsStaging(f"gs://{bucket}/s"), tmp_path)
    assert all(u.startswith(f"gs://{bucket}/s/caliban/packages/") for u in uris)
    done, log = run(emulator, package_job("gcs", base_image, uris, ["--x", "1"]))
    assert done.state == State.JOB_STATE_SUCCEEDED, (done.error, log)
    assert "ARGS --x 1\n" in log


def test_requirements_the_image_lacks_fail_the_job_with_pips_reason(emulator, project,
                                                                     base_image, tmp_path):
    (project / "requirements.txt").write_text("caliban-no-such-package==9.9\n")
    uris = staged_uris(project, LocalStaging(tmp_path / "stage"), tmp_path)
    done, log = run(emulator, package_job("reqs", base_image, uris, []))
    assert done.state == State.JOB_STATE_FAILED
    assert "caliban: installing the requirements when the job starts" in log
    assert "caliban-no-such-package" in log
    assert "caliban: installing the requirements failed" in log
    assert "ARGS" not in log


def test_a_missing_package_fails_the_job_saying_so(emulator, base_image, tmp_path):
    gone = (tmp_path / "caliban_job-0+0000000000000000.tar.gz").as_uri()
    done, _ = run(emulator, package_job("gone", base_image, [gone], []))
    assert done.state == State.JOB_STATE_FAILED
    assert "does not exist on this machine; submit the job again" in done.error.message

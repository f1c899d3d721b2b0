"""The emulator's contract: the real SDK's own high-level calls (``google-cloud-aiplatform``'s
``aiplatform.init`` + ``CustomJob``, ``HyperparameterTuningJob``) do against it what they do
against Vertex AI.

Everything is real: the SDK over REST with anonymous credentials, the emulator running jobs
on the Docker engine, and a GCS emulator (``gcp-storage-emulator``) as the staging bucket
(``STORAGE_EMULATOR_HOST``). Each refusal is checked for Vertex's status and message form;
each test of a finding of issue 19 failed before its fix.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.api_core.exceptions as gexc
import pytest
from support import wait_for
from support.emulator import remove_containers

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig

pytestmark = pytest.mark.docker
PROJECT = "caliban-test"
PREBUILT = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest"
# Writes a marker into AIP_MODEL_DIR (through the /gcs/ mount), echoes a file named by its
# first argument if any, then exits with EXIT_CODE.
PROGRAM = """\
import os, sys, time
model = os.environ.get("AIP_MODEL_DIR", "")
if model.startswith("gs://"):
    model = "/gcs/" + model[len("gs://"):]
if model:
    os.makedirs(model, exist_ok=True)
    open(os.path.join(model, "marker.txt"), "w").write("written by the job")
for arg in sys.argv[1:]:
    path = "/gcs/" + arg[len("gs://"):] if arg.startswith("gs://") else arg
    print("READ", open(path).read().strip(), flush=True)
if os.environ.get("WAIT_FOR_GO"):
    while not os.path.exists("/tmp/go"):
        time.sleep(0.05)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


@pytest.fixture
def emulator(tmp_path: Path, docker_client, base_image: str, staging_gcs) -> Iterator[Emulator]:
    """A Docker-mode emulator whose Vertex prebuilt images run on the local base image,
    with the session's GCS emulator configured (``STORAGE_EMULATOR_HOST``)."""
    runner = RunnerConfig(mode="docker", max_running=2, stop_grace_seconds=1,
                          prebuilt_image=base_image)
    state = tmp_path / "state"
    emu = Emulator(EmulatorConfig(state_dir=state, port=0, runner=runner)).start()
    yield emu
    emu.stop()
    remove_containers(state)


@pytest.fixture
def bucket(staging_gcs) -> str:
    return staging_gcs.new_bucket()


@pytest.fixture
def aiplatform(emulator: Emulator, bucket: str, monkeypatch) -> Any:
    """``google.cloud.aiplatform``, initialised as a user would, on the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform as sdk
    from google.cloud.aiplatform import jobs

    # The SDK polls every 5 s; the flows are the same at 0.2 s.
    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.2)
    sdk.init(project=PROJECT, location="us-central1", staging_bucket=f"gs://{bucket}",
             api_endpoint=emulator.endpoint, api_transport="rest",
             credentials=AnonymousCredentials())
    return sdk


def pools(image: str, *, args: list[str] | None = None, env: dict[str, str] | None = None,
          machine: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    container: dict[str, Any] = {"image_uri": image, "command": ["python3", "-c", PROGRAM],
                                 "args": list(args or [])}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return [{"machine_spec": machine or {"machine_type": "n1-standard-4"},
             "replica_count": 1, "container_spec": container}]


def log_of(emulator: Emulator, job: Any) -> str:
    job_id = job.resource_name.rsplit("/", 1)[1]
    with urllib.request.urlopen(f"{emulator.endpoint}/logs/{job_id}", timeout=10) as r:
        return r.read().decode()


def objects(staging_gcs: Any, bucket: str) -> dict[str, bytes]:
    return {name: blob.download_as_bytes()
            for name, blob in staging_gcs.objects(bucket).items()}


# -- the ordinary flows -------------------------------------------------------------------


def test_run_with_the_sdks_default_output_dir(aiplatform, base_image, bucket, staging_gcs,
                                              emulator) -> None:
    """Finding 1: no base_output_dir, so the SDK names one with colons
    (aiplatform-custom-job-YYYY-MM-DD-HH:MM:SS.mmm); the job must still run."""
    job = aiplatform.CustomJob(display_name="default-output", worker_pool_specs=pools(
        base_image), labels={"flow": "default-output"})
    job.run(timeout=600, restart_job_on_worker_restart=True)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
    prefix = job.job_spec.base_output_directory.output_uri_prefix
    assert ":" in prefix.rsplit("/", 1)[-1]
    # Echoed back as sent.
    assert job.job_spec.scheduling.timeout.total_seconds() == 600
    assert job.job_spec.scheduling.restart_job_on_worker_restart is True
    written = objects(staging_gcs, bucket)
    key = prefix[len(f"gs://{bucket}/"):] + "/model/marker.txt"
    assert written.get(key) == b"written by the job"


def test_base_output_dir_with_and_without_colons(aiplatform, base_image, bucket,
                                                 staging_gcs) -> None:
    for name, out in (("plain", f"gs://{bucket}/runs/plain"),
                      ("colons", f"gs://{bucket}/runs/a:b c+d=e")):
        job = aiplatform.CustomJob(display_name=name, worker_pool_specs=pools(base_image),
                                   base_output_dir=out)
        job.run()
        assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
        key = out[len(f"gs://{bucket}/"):] + "/model/marker.txt"
        assert objects(staging_gcs, bucket).get(key) == b"written by the job"


def test_submit_get_list_by_label_and_delete(aiplatform, base_image) -> None:
    job = aiplatform.CustomJob(display_name="listed", worker_pool_specs=pools(base_image),
                               labels={"team": "a", "run": "1"})
    job.submit(scheduling_strategy=aiplatform.compat.types.custom_job.Scheduling.Strategy.SPOT)
    other = aiplatform.CustomJob(display_name="other", worker_pool_specs=pools(base_image),
                                 labels={"team": "b"})
    other.submit()
    job.wait_for_completion()
    other.wait_for_completion()
    got = aiplatform.CustomJob.get(job.resource_name)
    assert got.display_name == "listed" and got.labels == {"team": "a", "run": "1"}
    assert got.job_spec.scheduling.strategy.name == "SPOT"
    listed = aiplatform.CustomJob.list(filter='labels.team="a"')
    assert [j.resource_name for j in listed] == [job.resource_name]
    job.delete()
    assert aiplatform.CustomJob.list(filter='labels.team="a"') == []
    with pytest.raises(gexc.NotFound):
        aiplatform.CustomJob.get(job.resource_name)


def test_cancel_sets_vertexs_cancelled_error(aiplatform, base_image) -> None:
    """Finding 2: a cancelled job carries error {code: 1 (CANCELLED), message}."""
    job = aiplatform.CustomJob(display_name="cancelled", worker_pool_specs=pools(
        base_image, env={"WAIT_FOR_GO": "1"}))
    job.submit()
    wait_for(lambda: aiplatform.CustomJob.get(job.resource_name).state.name
             == "JOB_STATE_RUNNING", what="the job to run")
    job.cancel()
    with pytest.raises(RuntimeError) as raised:
        job.wait_for_completion()
    assert job.state.name == "JOB_STATE_CANCELLED"
    assert job.error.code == 1
    assert job.error.message
    assert job.error.message in str(raised.value)


def test_web_access_uris_for_a_running_job(aiplatform, base_image, emulator) -> None:
    """Finding 6: enableWebAccess gives one URI per node while the job runs."""
    job = aiplatform.CustomJob(display_name="web", worker_pool_specs=pools(
        base_image, env={"WAIT_FOR_GO": "1"}))
    job.submit(enable_web_access=True)
    running = wait_for(lambda: (j := aiplatform.CustomJob.get(job.resource_name)).state.name
                       == "JOB_STATE_RUNNING" and j, what="the job to run")
    uris = dict(running.web_access_uris)
    assert list(uris) == ["workerpool0-0"]
    assert uris["workerpool0-0"].startswith(emulator.endpoint + "/")
    with urllib.request.urlopen(uris["workerpool0-0"], timeout=10) as page:
        assert page.status == 200
    job.cancel()
    with pytest.raises(RuntimeError):
        job.wait_for_completion()
    assert dict(aiplatform.CustomJob.get(job.resource_name).web_access_uris) == {}


# -- refusals -----------------------------------------------------------------------------

_FIELD = "job_spec.worker_pool_specs[0].machine_spec"


@pytest.mark.parametrize(("machine", "field", "says"), [
    ({"machine_type": "n1-foo-99"}, "machine_type", '"n1-foo-99"'),
    ({"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_A100",
      "accelerator_count": 1}, "accelerator_type",
     'Accelerator "NVIDIA_TESLA_A100" is not supported for machine type "n1-standard-4"'),
    ({"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4",
      "accelerator_count": 3}, "accelerator_count", 'The accelerator count "3" is not allowed'),
    ({"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4"},
     "accelerator_type", "Both `accelerator_type` and `accelerator_count` should be specified "
     "or none."),
    ({"machine_type": "n1-standard-4", "accelerator_count": 1}, "accelerator_type",
     "Both `accelerator_type` and `accelerator_count` should be specified or none."),
], ids=["unknown-machine", "a100-on-n1", "3-t4", "type-without-count", "count-without-type"])
def test_vertex_refuses_what_the_emulator_refuses(aiplatform, base_image, machine, field,
                                                  says) -> None:
    """Finding 3: Vertex's 400 INVALID_ARGUMENT with its "List of found errors" message, and
    nothing recorded."""
    job = aiplatform.CustomJob(display_name="refused", worker_pool_specs=pools(
        base_image, machine=machine), labels={"refused": "yes"})
    # Over REST google-api-core raises by HTTP status (400: BadRequest); the status is
    # Vertex's INVALID_ARGUMENT.
    with pytest.raises(gexc.BadRequest) as raised:
        job.submit()
    error = raised.value.response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    message = error["message"]
    assert message.startswith(f"List of found errors:\t1.Field: {_FIELD}.{field}; Message: ")
    assert says in message
    assert "custom_job." not in message
    assert aiplatform.CustomJob.list(filter='labels.refused="yes"') == []


def test_a_right_accelerator_is_accepted(aiplatform, base_image) -> None:
    job = aiplatform.CustomJob(display_name="t4", worker_pool_specs=pools(base_image, machine={
        "machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1}))
    job.submit()
    assert job.job_spec.worker_pool_specs[0].machine_spec.accelerator_count == 1
    job.cancel()


# -- /gcs/ backed by the bucket ----------------------------------------------------------


@pytest.mark.parametrize("exit_code", [0, 3], ids=["succeeds", "fails"])
def test_gcs_mount_reads_and_writes_the_bucket(aiplatform, base_image, bucket, staging_gcs,
                                               exit_code) -> None:
    """Finding 4: objects named by the job are under /gcs/BUCKET/, and what the job writes
    there is in the bucket when it ends, also when it fails."""
    staging_gcs.client().bucket(bucket).blob("data/in.txt").upload_from_string("dataset v1")
    job = aiplatform.CustomJob(
        display_name="gcs", base_output_dir=f"gs://{bucket}/out/run-1",
        worker_pool_specs=pools(base_image, args=[f"gs://{bucket}/data/in.txt"],
                                env={"EXIT_CODE": str(exit_code)}))
    if exit_code:
        with pytest.raises(RuntimeError):
            job.run()
    else:
        job.run()
    assert objects(staging_gcs, bucket)["out/run-1/model/marker.txt"] == b"written by the job"


# -- prebuilt images and from_local_script -----------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "task.py"
    path.write_text("import sys\nprint('TASK RAN', *sys.argv[1:])\n")
    return path


def test_from_local_script_on_a_prebuilt_image(aiplatform, script, emulator,
                                               base_image) -> None:
    """Finding 5: a Vertex prebuilt image URI runs on the local image the setting names,
    and the job's log says so."""
    job = aiplatform.CustomJob.from_local_script(
        display_name="script-prebuilt", script_path=str(script), container_uri=PREBUILT,
        args=["--x", "1"])
    job.run()
    log = log_of(emulator, job)
    assert job.state.name == "JOB_STATE_SUCCEEDED", log
    assert job.job_spec.worker_pool_specs[0].python_package_spec.executor_image_uri == PREBUILT
    assert f"{PREBUILT} is a Vertex AI prebuilt image: running it as {base_image}" in log
    assert "TASK RAN --x 1" in log


def test_from_local_script_on_a_local_image(aiplatform, script, emulator, base_image) -> None:
    """The SDK's own containerSpec for other images: pip install --user from /gcs/."""
    job = aiplatform.CustomJob.from_local_script(
        display_name="script-local", script_path=str(script), container_uri=base_image,
        args=["--y", "2"])
    job.run()
    log = log_of(emulator, job)
    assert job.state.name == "JOB_STATE_SUCCEEDED", log
    assert "pip3 install -q --user /gcs/" in job.job_spec.worker_pool_specs[0] \
        .container_spec.command[2]
    assert "TASK RAN --y 2" in log


def test_a_missing_mapped_image_says_how_to_make_it(tmp_path, docker_client, staging_gcs,
                                                    bucket, monkeypatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform as sdk
    from google.cloud.aiplatform import jobs

    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.2)
    runner = RunnerConfig(mode="docker", prebuilt_image="caliban-no-such-image:never")
    with Emulator(EmulatorConfig(state_dir=tmp_path / "s", port=0, runner=runner)) as emu:
        sdk.init(project=PROJECT, location="us-central1", staging_bucket=f"gs://{bucket}",
                 api_endpoint=emu.endpoint, api_transport="rest",
                 credentials=AnonymousCredentials())
        job = sdk.CustomJob(display_name="no-image", worker_pool_specs=pools(PREBUILT))
        with pytest.raises(RuntimeError):
            job.run()
        assert "caliban-no-such-image:never" in job.error.message
        assert "CALIBAN_EMULATOR_PREBUILT_IMAGE" in job.error.message


# A trial: its loss from its --lr and --layers, reported as cloudml-hypertune writes it, and
# a marker in AIP_MODEL_DIR (through /gcs/).
TRIAL = """\
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
loss = float(args["lr"]) * int(args["layers"]) + (0.5 if args["opt"] == "sgd" else 0.0)
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "a") as f:
    f.write(json.dumps({"global_step": "7", "loss": str(loss),
                        "trial": os.environ["CLOUD_ML_TRIAL_ID"]}) + "\\n")
model = "/gcs/" + os.environ["AIP_MODEL_DIR"][len("gs://"):]
os.makedirs(model, exist_ok=True)
open(os.path.join(model, "loss.txt"), "w").write(str(loss))
"""


def test_hyperparameter_tuning_job_runs_its_trials(aiplatform, base_image, bucket,
                                                   staging_gcs) -> None:
    """The SDK's HyperparameterTuningJob.run() reaches SUCCEEDED with every trial's
    parameters and measurement; each trial's outputs under BASE/TRIAL_ID, as on Vertex."""
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    specs = pools(base_image)
    specs[0]["container_spec"]["command"] = ["python3", "-c", TRIAL]
    custom = aiplatform.CustomJob(display_name="trial", worker_pool_specs=specs,
                                  base_output_dir=f"gs://{bucket}/tune")
    tuning = aiplatform.HyperparameterTuningJob(
        display_name="tune", custom_job=custom, metric_spec={"loss": "minimize"},
        parameter_spec={"lr": hpt.DoubleParameterSpec(min=0.001, max=0.1, scale="log"),
                        "layers": hpt.IntegerParameterSpec(min=1, max=4, scale="linear"),
                        "opt": hpt.CategoricalParameterSpec(values=["adam", "sgd"]),
                        # A 0 bound: proto3 leaves it out of the JSON the SDK sends.
                        "dropout": hpt.DoubleParameterSpec(min=0, max=0.5, scale="linear")},
        max_trial_count=4, parallel_trial_count=2, labels={"flow": "tuning"})
    tuning.run()
    assert tuning.state.name == "JOB_STATE_SUCCEEDED", tuning.error
    assert len(tuning.trials) == 4
    written = objects(staging_gcs, bucket)
    for trial in tuning.trials:
        assert trial.state.name == "SUCCEEDED"
        params = {p.parameter_id: p.value for p in trial.parameters}
        assert 0.001 <= params["lr"] <= 0.1 and 1 <= params["layers"] <= 4
        assert 0 <= params["dropout"] <= 0.5
        expected = params["lr"] * params["layers"] + (0.5 if params["opt"] == "sgd" else 0)
        final = trial.final_measurement
        assert final.step_count == 7
        assert final.metrics[0].metric_id == "loss"
        assert final.metrics[0].value == pytest.approx(expected)
        assert float(written[f"tune/{trial.id}/model/loss.txt"]) == pytest.approx(expected)
    # The SDK lists and gets it back by its labels.
    listed = aiplatform.HyperparameterTuningJob.list(filter='labels.flow="tuning"')
    assert [j.resource_name for j in listed] == [tuning.resource_name]
    again = aiplatform.HyperparameterTuningJob.get(tuning.resource_name)
    assert again.trials[0].final_measurement == tuning.trials[0].final_measurement


def test_no_docker_engine_says_how_to_start_one(tmp_path, monkeypatch) -> None:
    """Bad input: with no engine, the message says how a user starts one on their own system
    (not this repository's scripts) and that --build package on Vertex AI needs none."""
    from caliban_jupyter.errors import DockerError

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerError) as raised:
        Emulator(EmulatorConfig(state_dir=tmp_path / "s", port=0)).start()
    message = str(raised.value)
    assert "Docker Desktop" in message and "systemctl start docker" in message
    assert "--backend vertex --build package" in message
    assert "scripts/services.sh" not in message

"""HyperparameterTuningJobs on the emulator, through the real low-level SDK client over REST:
trials run as containers on the local Docker engine, ``parallelTrialCount`` at once, their
metrics read from the cloudml-hypertune file, failures counted, median stopping, cancel,
list filters and refusals.

Trials that must wait (to observe parallelism, a cancel) wait for a ``go`` file the test
writes into their hypertune directory, so each scenario is decided by the test, not by how
fast the machine is. One emulator serves the whole module.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import google.api_core.exceptions as gexc
import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, remove_containers, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.emulator.tuning_store import trial_metrics_dir
from caliban_jupyter.spec.search_space import load_search_space

pytestmark = pytest.mark.docker
State = aiplatform_v1.JobState
Trial = aiplatform_v1.Trial.State

# A trial: prints its args, writes a marker into AIP_MODEL_DIR, then behaves as --mode says:
# "loss" reports loss = lr * layers (after a go file if --wait=1), "crash" exits 3, "silent"
# reports nothing, "curve" reports the losses of --curve=a/b/c one per step then, if
# --hang=1, never ends by itself.
PROGRAM = """\
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
print("ARGS", " ".join(sys.argv[1:]), "TRIAL", os.environ.get("CLOUD_ML_TRIAL_ID"), flush=True)
metric_file = os.environ["CLOUD_ML_HP_METRIC_FILE"]
home = os.path.dirname(metric_file)
model = os.environ.get("AIP_MODEL_DIR")
if model and not model.startswith("gs://"):
    os.makedirs(model, exist_ok=True)
    open(os.path.join(model, "marker.txt"), "w").write(args.get("lr", "-"))
if args.get("wait") == "1":
    while not os.path.exists(os.path.join(home, "go")):
        time.sleep(0.05)
def report(value, step):
    with open(metric_file, "a") as f:
        f.write(json.dumps({"global_step": str(step), "loss": str(value), "timestamp":
                            time.time(), "trial": os.environ["CLOUD_ML_TRIAL_ID"]}) + "\\n")
mode = args.get("mode", "loss")
if mode == "crash":
    sys.exit(3)
if mode == "loss":
    report(float(args["lr"]) * int(args.get("layers", "1")), 1)
if mode == "curve":
    curve = {"1": [1.0, 1.0], "2": [0.5, 0.5], "3": [10.0]}[args["quality"]]
    for step, value in enumerate(curve, 1):
        report(value, step)
    while args["quality"] == "3":
        time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory, docker_client, base_image: str) -> Iterator[Emulator]:
    state = tmp_path_factory.mktemp("tuning") / "state"
    runner = RunnerConfig(mode="docker", max_running=4, stop_grace_seconds=1)
    emu = Emulator(EmulatorConfig(state_dir=state, port=0, runner=runner)).start()
    yield emu
    emu.stop()
    remove_containers(state)


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Any:
    return sdk_client(emulator.endpoint)


def rest_body(name: str, image: str, space: dict[str, Any], *, args: list[str] = (),
              labels: dict[str, str] | None = None, output: str | None = None
              ) -> dict[str, Any]:
    """A HyperparameterTuningJob (REST JSON) built from our ``--tune`` space."""
    spec: dict[str, Any] = {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
        "containerSpec": {"imageUri": image, "command": ["python3", "-c", PROGRAM],
                          "args": list(args)}}]}
    if output:
        spec["baseOutputDirectory"] = {"outputUriPrefix": output}
    return {"displayName": name, "labels": labels or {}, "trialJobSpec": spec,
            **load_search_space(space).job_fields()}


def tuning_body(*args: Any, **kw: Any) -> Any:
    """:func:`rest_body` as the SDK's message."""
    return aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(rest_body(*args, **kw)))


def create(client: Any, body: Any) -> Any:
    return client.create_hyperparameter_tuning_job(
        parent=PARENT, hyperparameter_tuning_job=body, timeout=TIMEOUT)


def get(client: Any, name: str) -> Any:
    return client.get_hyperparameter_tuning_job(name=name, timeout=TIMEOUT)


def release(emulator: Emulator, job: Any) -> None:
    """Let every trial proposed so far finish (its go file)."""
    for trial in job.trials:
        directory = trial_metrics_dir(emulator.store.state_dir,
                                      int(trial.custom_job.rsplit("/", 1)[1]))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "go").touch()


def log_of(emulator: Emulator, name: str) -> str:
    with urllib.request.urlopen(f"{emulator.endpoint}/logs/{name.rsplit('/', 1)[1]}",
                                timeout=10) as r:
        return r.read().decode()


def live(job: Any) -> list[Any]:
    return [t for t in job.trials if t.state in (Trial.ACTIVE, Trial.STOPPING)]


def test_a_study_runs_parallel_trials_and_reads_their_metrics(client, emulator, base_image,
                                                              tmp_path) -> None:
    space = {"metric": "loss", "goal": "minimize", "trials": 4, "parallel": 2,
             "parameters": {"lr": {"min": 1e-3, "max": 1.0, "scale": "log"},
                            "layers": {"min": 1, "max": 3, "type": "int"}}}
    out = tmp_path / "out"
    job = create(client, tuning_body("study", base_image, space, args=["--wait=1"],
                                     labels={"team": "tune"}, output=f"file://{out}"))
    assert job.state == State.JOB_STATE_QUEUED
    most_live = 0
    deadline = time.monotonic() + 300  # bounds a broken run only
    while time.monotonic() < deadline:
        job = get(client, job.name)
        most_live = max(most_live, len(live(job)))
        assert len(live(job)) <= 2, job.trials
        if job.state in (State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED):
            break
        if len(live(job)) == 2 or len(job.trials) == 4:
            release(emulator, job)
        time.sleep(0.2)
    assert job.state == State.JOB_STATE_SUCCEEDED, job.error
    assert most_live == 2
    assert len(job.trials) == 4 and [t.id for t in job.trials] == ["1", "2", "3", "4"]
    for trial in job.trials:
        params = {p.parameter_id: p.value for p in trial.parameters}
        assert 1e-3 <= params["lr"] <= 1.0 and params["layers"] in (1.0, 2.0, 3.0)
        assert trial.state == Trial.SUCCEEDED
        final = trial.final_measurement
        assert final.metrics[0].metric_id == "loss"
        assert final.metrics[0].value == pytest.approx(params["lr"] * params["layers"])
        assert final.step_count == 1
        assert trial.start_time and trial.end_time
        # Vertex: each trial's outputs under BASE/TRIAL_ID (AIP_MODEL_DIR = BASE/ID/model/).
        assert (out / trial.id / "model" / "marker.txt").read_text() == repr(params["lr"])
        trial_job = client.get_custom_job(name=trial.custom_job, timeout=TIMEOUT)
        assert trial_job.state == State.JOB_STATE_SUCCEEDED
        args = trial_job.job_spec.worker_pool_specs[0].container_spec.args
        assert list(args) == ["--wait=1", f"--lr={params['lr']!r}",
                              f"--layers={int(params['layers'])}"]
    assert "Optuna" in log_of(emulator, job.name)
    with urllib.request.urlopen(f"{emulator.endpoint}/ui/", timeout=10) as r:
        page = r.read().decode()
    best = min(t.final_measurement.metrics[0].value for t in job.trials)
    assert "<td>study</td>" in page and f"loss={best:g}" in page and "4 of 4" in page
    # The trials' CustomJobs belong to the tuning job: not listed, not cancellable alone.
    listed = client.list_custom_jobs(parent=PARENT, timeout=TIMEOUT)
    assert not [j for j in listed if j.display_name.startswith("study-trial-")]
    with pytest.raises(gexc.BadRequest, match="trial of the HyperparameterTuning"):
        client.delete_custom_job(name=job.trials[0].custom_job, timeout=TIMEOUT)


def test_failed_trials_end_the_study_at_max_failed(client, emulator, base_image) -> None:
    space = {"metric": "loss", "goal": "minimize", "trials": 3, "parallel": 1,
             "algorithm": "grid", "max_failed": 2,
             "parameters": {"mode": ["crash", "silent", "loss"]}}
    job = create(client, tuning_body("failing", base_image, space, args=["--lr=1"]))
    job = wait_for(lambda: (j := get(client, job.name)).state == State.JOB_STATE_FAILED
                   and j, what="the study to fail")
    assert [t.state for t in job.trials] == [Trial.INFEASIBLE, Trial.INFEASIBLE]
    assert "CustomJob failed" in job.trials[0].infeasible_reason
    assert "non-zero status of 3" in job.trials[0].infeasible_reason
    assert "reported no value of the metric 'loss'" in job.trials[1].infeasible_reason
    assert "maxFailedTrialCount (2)" in job.error.message
    assert "grid search" in log_of(emulator, job.name)


def test_median_rule_stops_a_weak_trial(client, emulator, base_image) -> None:
    space = {"metric": "loss", "goal": "minimize", "trials": 3, "parallel": 1,
             "algorithm": "grid", "early_stopping": "median",
             "parameters": {"quality": {"values": [1, 2, 3]}}}
    job = create(client, tuning_body("median", base_image, space, args=["--mode=curve"]))
    # Trial 3 reports 10 (worse than the median of 1 and 0.5) and never ends by itself.
    job = wait_for(lambda: (j := get(client, job.name)).state == State.JOB_STATE_SUCCEEDED
                   and j, what="the study to succeed", timeout=180)
    finals = [t.final_measurement.metrics[0].value for t in job.trials]
    assert finals == [1.0, 0.5, 10.0]
    assert all(t.state == Trial.SUCCEEDED for t in job.trials)
    assert client.get_custom_job(name=job.trials[2].custom_job, timeout=TIMEOUT).state \
        == State.JOB_STATE_CANCELLED
    assert "trial 3: stopped early by the median rule" in log_of(emulator, job.name)
    # Discrete values that are whole numbers reach the program as integers.
    trial_job = client.get_custom_job(name=job.trials[0].custom_job, timeout=TIMEOUT)
    assert "--quality=1" in trial_job.job_spec.worker_pool_specs[0].container_spec.args


def test_cancel_stops_the_running_trials_then_delete(client, emulator, base_image) -> None:
    space = {"metric": "loss", "goal": "minimize", "trials": 6, "parallel": 2,
             "algorithm": "random", "parameters": {"lr": {"min": 0.1, "max": 1.0}}}
    job = create(client, tuning_body("cancelled", base_image, space, args=["--wait=1"],
                                     labels={"team": "other"}))
    wait_for(lambda: len(live(get(client, job.name))) == 2, what="two running trials")
    client.cancel_hyperparameter_tuning_job(name=job.name, timeout=TIMEOUT)
    job = wait_for(lambda: (j := get(client, job.name)).state == State.JOB_STATE_CANCELLED
                   and j, what="the cancel")
    assert job.error.code == 1
    assert len(job.trials) == 2
    assert all(t.state == Trial.INFEASIBLE and "tuning job ended" in t.infeasible_reason
               for t in job.trials)
    for trial in job.trials:
        assert client.get_custom_job(name=trial.custom_job, timeout=TIMEOUT).state == \
            State.JOB_STATE_CANCELLED
    with pytest.raises(gexc.BadRequest, match="already in state"):
        client.cancel_hyperparameter_tuning_job(name=job.name, timeout=TIMEOUT)
    client.delete_hyperparameter_tuning_job(name=job.name, timeout=TIMEOUT).result(
        timeout=TIMEOUT)
    with pytest.raises(gexc.NotFound):
        get(client, job.name)
    with pytest.raises(gexc.NotFound):
        client.get_custom_job(name=job.trials[0].custom_job, timeout=TIMEOUT)


def test_list_filters_and_pages(client) -> None:
    """Lists the jobs the tests above made (run with them: module order)."""
    def names(**kw: Any) -> list[str]:
        return [j.display_name for j in client.list_hyperparameter_tuning_jobs(
            request={"parent": PARENT, **kw}, timeout=TIMEOUT)]

    assert set(names()) >= {"study", "failing", "median"}
    assert names(filter='labels.team="tune"') == ["study"]
    assert set(names(filter="state=JOB_STATE_SUCCEEDED")) == {"study", "median"}
    assert names(filter='display_name="failing"') == ["failing"]
    page = client.list_hyperparameter_tuning_jobs(
        request={"parent": PARENT, "page_size": 1}, timeout=TIMEOUT)
    first = next(iter(page.pages))
    assert len(first.hyperparameter_tuning_jobs) == 1 and first.next_page_token
    with pytest.raises(gexc.BadRequest, match="Invalid filter"):
        names(filter="labels.team ==")


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["studySpec"]["parameters"][0].update(
        {"doubleValueSpec": {"minValue": 0.1, "maxValue": 1}, "scaleType": "UNIT_LINEAR_SCALE"})
     or b["studySpec"].update({"algorithm": "GRID_SEARCH"}),
     "study_spec.parameters[0].double_value_spec"),
    (lambda b: b.update({"parallelTrialCount": 9}), "parallel_trial_count"),
    (lambda b: b.update({"maxTrialCount": 0}), "max_trial_count"),
    (lambda b: b["studySpec"].pop("metrics"), "study_spec.metrics"),
    (lambda b: b["studySpec"]["parameters"][0]["doubleValueSpec"].update({"minValue": 0}),
     "study_spec.parameters[0].scale_type"),
    (lambda b: b["trialJobSpec"]["workerPoolSpecs"][0]["machineSpec"].update(
        {"machineType": "n1-foo-99"}),
     "trial_job_spec.worker_pool_specs[0].machine_spec.machine_type"),
    (lambda b: b["trialJobSpec"]["workerPoolSpecs"][0]["machineSpec"].update(
        {"acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 1}),
     "trial_job_spec.worker_pool_specs[0].machine_spec.accelerator_type"),
])
def test_refusals_name_the_field_and_store_nothing(client, emulator, base_image, change,
                                                   field) -> None:
    space = {"metric": "loss", "goal": "minimize", "trials": 2, "parallel": 1,
             "parameters": {"lr": {"min": 1e-3, "max": 1.0, "scale": "log"}}}
    body = rest_body("refused", base_image, space)
    change(body)
    before = len(list(client.list_hyperparameter_tuning_jobs(parent=PARENT,
                                                            timeout=TIMEOUT)))
    request = urllib.request.Request(
        f"{emulator.endpoint}/v1/{PARENT}/hyperparameterTuningJobs",
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT)
    error = json.loads(refused.value.read())["error"]
    assert refused.value.code == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(f"List of found errors:\t1.Field: {field}; Message: ")
    after = len(list(client.list_hyperparameter_tuning_jobs(parent=PARENT, timeout=TIMEOUT)))
    assert after == before


def test_restart_continues_an_unfinished_study(tmp_path, docker_client, base_image) -> None:
    """Our choice: a restarted emulator continues the study (the trials' containers are
    re-attached and the study is rebuilt from the stored trials)."""
    state = tmp_path / "state"
    config = EmulatorConfig(state_dir=state, port=0, runner=RunnerConfig(
        mode="docker", max_running=2, stop_grace_seconds=1))
    space = {"metric": "loss", "goal": "minimize", "trials": 3, "parallel": 1,
             "algorithm": "grid", "parameters": {"layers": {"values": [1, 2, 3]}}}
    try:
        with Emulator(config) as emu:
            client = sdk_client(emu.endpoint)
            job = create(client, tuning_body("restarted", base_image, space,
                                             args=["--wait=1", "--lr=1"]))
            first = wait_for(lambda: (j := get(client, job.name)).trials and
                             (emu.store.get(int(j.trials[0].custom_job.rsplit("/", 1)[1]))
                              .state == "JOB_STATE_RUNNING") and j, what="trial 1 running")
        with Emulator(config) as emu:
            client = sdk_client(emu.endpoint)
            release(emu, first)
            job = wait_for(lambda: (j := get(client, job.name)).trials[-1].id == "2" and j,
                           what="trial 2 after the restart")
            release(emu, job)
            wait_for(lambda: len(get(client, job.name).trials) == 3, what="trial 3")
            release(emu, get(client, job.name))
            job = wait_for(lambda: (j := get(client, job.name)).state ==
                           State.JOB_STATE_SUCCEEDED and j, what="the study to end")
            assert [t.final_measurement.metrics[0].value for t in job.trials] == [1, 2, 3]
            assert "emulator restarted" in log_of(emu, job.name)
    finally:
        remove_containers(state)

"""The pure parts of the emulator's tuning jobs: create checks, enum tables, a trial's
CustomJob, the store's schema migration and the hidden trial jobs. No HTTP, no Docker."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from caliban_jupyter.emulator.api import JobService
from caliban_jupyter.emulator.resources import encode_enums_as_ints, normalize_request
from caliban_jupyter.emulator.rpc import (
    ALGORITHMS,
    GOALS,
    MEASUREMENT_SELECTION,
    OBSERVATION_NOISE,
    SCALE_TYPES,
    TRIAL_STATES,
)
from caliban_jupyter.emulator.runner import Runner, RunnerConfig
from caliban_jupyter.emulator.store import JobStore
from caliban_jupyter.emulator.tuning import trial_job_body
from caliban_jupyter.emulator.tuning_store import TuningStore
from caliban_jupyter.emulator.tuning_validation import tuning_job_problems
from caliban_jupyter.spec.search_space import load_search_space

SPACE = {"metric": "loss", "goal": "minimize", "trials": 4, "parallel": 2,
         "parameters": {"lr": {"min": 1e-3, "max": 0.1, "scale": "log"},
                        "batch": {"values": [16, 32]}, "opt": ["adam", "sgd"]}}


def body(**changes: object) -> dict:
    out = {"displayName": "t", "trialJobSpec": {
        "workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"},
                             "replicaCount": "1",
                             "containerSpec": {"imageUri": "img", "args": ["--x=1"],
                                               "env": [{"name": "A", "value": "b"}]}}],
        "baseOutputDirectory": {"outputUriPrefix": "gs://b/run"}},
        **load_search_space(SPACE).job_fields()}
    out.update(changes)
    return out


def test_a_request_from_our_search_space_is_accepted() -> None:
    assert tuning_job_problems(normalize_request(body())) == []


def fields(job: dict) -> list[str]:
    return [f for f, _ in tuning_job_problems(normalize_request(job))]


def test_each_refusal_names_its_field() -> None:
    assert fields(body(maxTrialCount=0)) == ["max_trial_count"]
    assert fields(body(parallelTrialCount=5)) == ["parallel_trial_count"]
    assert fields(body(maxFailedTrialCount=-1)) == ["max_failed_trial_count"]
    assert fields(body(displayName="")) == ["display_name"]
    assert fields(body(trialJobSpec=None)) == ["trial_job_spec"]
    grid = body()
    grid["studySpec"]["algorithm"] = "GRID_SEARCH"
    assert fields(grid) == ["study_spec.parameters[0].double_value_spec"]
    bad = body()
    bad["studySpec"]["parameters"][0]["doubleValueSpec"] = {"minValue": 0, "maxValue": 1}
    assert fields(bad) == ["study_spec.parameters[0].scale_type"]
    bad["studySpec"]["parameters"][0]["doubleValueSpec"] = {"minValue": 2, "maxValue": 1}
    assert "study_spec.parameters[0].double_value_spec.min_value" in fields(bad)
    bad = body()
    bad["studySpec"]["metrics"] = []
    bad["studySpec"]["parameters"].append({"parameterId": "lr",
                                           "categoricalValueSpec": {"values": ["a"]}})
    assert fields(bad) == ["study_spec.metrics", "study_spec.parameters[3].parameter_id"]
    machine = body()
    machine["trialJobSpec"]["workerPoolSpecs"][0]["machineSpec"]["machineType"] = "n1-foo-9"
    assert fields(machine) == ["trial_job_spec.worker_pool_specs[0].machine_spec.machine_type"]


def test_enum_tables_match_the_sdk() -> None:
    from google.cloud.aiplatform_v1.types import StudySpec, Trial

    assert GOALS == {e.name: e.value for e in StudySpec.MetricSpec.GoalType}
    assert SCALE_TYPES == {e.name: e.value for e in StudySpec.ParameterSpec.ScaleType}
    assert ALGORITHMS == {e.name: e.value for e in StudySpec.Algorithm}
    assert MEASUREMENT_SELECTION == {e.name: e.value
                                     for e in StudySpec.MeasurementSelectionType}
    assert OBSERVATION_NOISE == {e.name: e.value for e in StudySpec.ObservationNoise}
    assert TRIAL_STATES == {e.name: e.value for e in Trial.State}


def test_int_enums_in_and_out() -> None:
    wire = body()
    wire["studySpec"]["metrics"][0]["goal"] = 2
    wire["studySpec"]["algorithm"] = 3
    stored = normalize_request(wire)
    assert stored["studySpec"]["metrics"][0]["goal"] == "MINIMIZE"
    assert stored["studySpec"]["algorithm"] == "RANDOM_SEARCH"
    out = encode_enums_as_ints({**stored, "state": "JOB_STATE_RUNNING",
                                "trials": [{"id": "1", "state": "INFEASIBLE"}]})
    assert out["state"] == 3 and out["trials"][0]["state"] == 5
    assert out["studySpec"]["parameters"][0]["scaleType"] == 2


@pytest.fixture
def store(tmp_path: Path):
    store = JobStore(tmp_path)
    yield store
    store.close()


def test_a_trials_custom_job(store: JobStore) -> None:
    job = TuningStore(store).create("1", "us-central1", normalize_request(body()))
    trial = trial_job_body(job, "3", {"lr": 0.01, "batch": 32.0, "opt": "sgd"})
    container = trial["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
    assert container["args"] == ["--x=1", "--lr=0.01", "--batch=32", "--opt=sgd"]
    assert container["env"] == [
        {"name": "A", "value": "b"}, {"name": "CLOUD_ML_TRIAL_ID", "value": "3"},
        {"name": "CLOUD_ML_HP_METRIC_FILE", "value": "/tmp/hypertune/output.metrics"}]
    assert trial["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/run/3"}
    assert trial["displayName"] == "t-trial-3"
    # The tuning job's own body is untouched.
    assert job.body["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"] == ["--x=1"]


def test_trial_jobs_are_not_listed_with_custom_jobs(store: JobStore) -> None:
    service = JobService(store, Runner(store, RunnerConfig(mode="none"), str))
    tuning = TuningStore(store).create("1", "us-central1", normalize_request(body()))
    plain = store.create("1", "us-central1", {"displayName": "plain", "jobSpec": {}})
    trial = store.create("1", "us-central1", {"displayName": "t-trial-1", "jobSpec": {}},
                         tuning_job=tuning.id)
    listed = service.list("1", "us-central1", None, None, None)["customJobs"]
    assert [j["displayName"] for j in listed] == ["plain"]
    assert service.get("1", "us-central1", str(trial.id)).tuning_job == tuning.id
    assert len({plain.id, trial.id, tuning.id}) == 3
    TuningStore(store).delete(tuning.id)
    assert store.get(trial.id) is None and store.get(plain.id) is not None


def test_a_state_dir_from_before_tuning_opens_and_keeps_its_jobs(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "emulator.db")
    db.executescript("""
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, project_number TEXT NOT NULL,
            location TEXT NOT NULL, display_name TEXT NOT NULL, state TEXT NOT NULL,
            labels TEXT NOT NULL, body TEXT NOT NULL, create_time REAL NOT NULL,
            start_time REAL, end_time REAL, update_time REAL NOT NULL, error TEXT,
            container_id TEXT);
        INSERT INTO jobs VALUES (7, '1', 'l', 'old', 'JOB_STATE_SUCCEEDED', '{}', '{}', 1, 1,
            2, 2, NULL, NULL);""")
    db.commit()
    db.close()
    for _ in range(2):  # opening twice: the migration is idempotent
        store = JobStore(tmp_path)
        old = store.get(7)
        assert old is not None and old.display_name == "old" and old.tuning_job is None
        assert TuningStore(store).list() == []
        store.close()


def test_a_zero_bound_left_out_by_proto3_means_zero() -> None:
    from caliban_jupyter.emulator.study import parse_parameters

    job = body()
    job["studySpec"]["parameters"][0] = {"parameterId": "dropout", "doubleValueSpec":
                                         {"maxValue": 0.5}, "scaleType": "UNIT_LINEAR_SCALE"}
    assert tuning_job_problems(normalize_request(job)) == []
    assert parse_parameters(job["studySpec"])[0].low == 0.0
    job["studySpec"]["parameters"][0]["scaleType"] = "UNIT_LOG_SCALE"
    assert fields(job) == ["study_spec.parameters[0].scale_type"]

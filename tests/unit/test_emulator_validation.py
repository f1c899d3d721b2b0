"""CustomJob create validation and the JSON forms (names, enums, timestamps). Pure."""

from __future__ import annotations

import pytest

from caliban_jupyter.emulator.resources import (
    encode_enums_as_ints,
    normalize_request,
    parse_rfc3339,
    project_number,
    rfc3339,
)
from caliban_jupyter.emulator.rpc import (
    ACCELERATOR_TYPES,
    JOB_STATES,
    RESERVATION_AFFINITY_TYPES,
    STRATEGIES,
    ApiError,
    invalid_argument,
)
from caliban_jupyter.emulator.validation import custom_job_problems
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec


def spec_body(**labels: str) -> dict:
    spec = JobSpec(display_name="caliban-1", index=1, region="us-central1",
                   image_uri="127.0.0.1:5000/x:1", args=("--a", "1"),
                   labels=labels or {"caliban_group": "g"},
                   machine=MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 1))
    return spec.to_custom_job()


def fields(body: dict) -> list[str]:
    return [field for field, _ in custom_job_problems(body)]


def test_what_caliban_sends_is_valid() -> None:
    assert custom_job_problems(spec_body()) == []


def test_labels_rules() -> None:
    assert fields(spec_body(ok_key="v-1_2", k="")) == []
    assert fields(spec_body(**{"ключ": "значение"})) == []  # lowercase in any script
    assert fields(spec_body(**{"1key": "v"})) == ["labels['1key']"]
    assert fields(spec_body(**{"Key": "v"}))
    assert fields(spec_body(k="has space"))
    assert fields(spec_body(k="v" * 63)) == []
    assert fields(spec_body(k="v" * 64)) == ["labels['k']"]
    assert fields(spec_body(**{"k" * 64: "v"}))
    many = spec_body(**{f"k{i}": "v" for i in range(64)})
    assert fields(many) == []
    many["labels"]["one_more"] = "v"
    assert fields(many) == ["labels"]


@pytest.mark.parametrize(("path", "value", "field"), [
    (("displayName",), None, "display_name"),
    (("displayName",), "  ", "display_name"),
    (("jobSpec", "workerPoolSpecs"), [], "job_spec.worker_pool_specs"),
    (("jobSpec",), None, "job_spec.worker_pool_specs"),
    (("jobSpec", "workerPoolSpecs", 0, "machineSpec", "machineType"), "",
     "job_spec.worker_pool_specs[0].machine_spec.machine_type"),
    (("jobSpec", "workerPoolSpecs", 0, "containerSpec"), None,
     "job_spec.worker_pool_specs[0].container_spec.image_uri"),
    (("jobSpec", "workerPoolSpecs", 0, "replicaCount"), "0",
     "job_spec.worker_pool_specs[0].replica_count"),
    (("jobSpec", "workerPoolSpecs", 0, "replicaCount"), "-2",
     "job_spec.worker_pool_specs[0].replica_count"),
    (("jobSpec", "workerPoolSpecs", 0, "containerSpec", "args"), "--a",
     "job_spec.worker_pool_specs[0].container_spec.args"),
])
def test_required_fields(path: tuple, value: object, field: str) -> None:
    body = spec_body()
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    assert fields(body) == [field]


def test_replica_count_as_number_or_string() -> None:
    body = spec_body()
    body["jobSpec"]["workerPoolSpecs"][0]["replicaCount"] = 2
    assert fields(body) == []


def test_error_envelope_lists_every_violation() -> None:
    error = invalid_argument([("a.b", "Required field is not set."), ("c", "Bad.")])
    assert error.to_json() == {"error": {
        "code": 400, "status": "INVALID_ARGUMENT",
        "message": "List of found errors:\t1.Field: a.b; Message: Required field is not "
                   "set.\t2.Field: c; Message: Bad.\t",
        "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                     "fieldViolations": [
                         {"field": "a.b", "description": "Required field is not set."},
                         {"field": "c", "description": "Bad."}]}]}}
    assert ApiError("NOT_FOUND", "x").http_status == 404
    assert ApiError("RESOURCE_EXHAUSTED", "x").http_status == 429


def test_snake_case_and_int_enums_are_normalized() -> None:
    body = normalize_request({
        "display_name": "x", "labels": {"snake_key": "v"},
        "job_spec": {"worker_pool_specs": [{"machine_spec": {"accelerator_type": 5}}]},
    })
    assert body == {"displayName": "x", "labels": {"snake_key": "v"},
                    "jobSpec": {"workerPoolSpecs": [
                        {"machineSpec": {"acceleratorType": "NVIDIA_TESLA_T4"}}]}}
    out = encode_enums_as_ints({**body, "state": "JOB_STATE_RUNNING"})
    assert out["state"] == 3
    assert out["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == 5
    assert body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == \
        "NVIDIA_TESLA_T4"  # the input is not modified


def test_enum_tables_match_the_sdk() -> None:
    from google.cloud.aiplatform_v1.types import AcceleratorType, JobState

    assert JOB_STATES == {e.name: e.value for e in JobState}
    assert ACCELERATOR_TYPES == {e.name: e.value for e in AcceleratorType}
    from google.cloud.aiplatform_v1.types import ReservationAffinity, Scheduling

    assert STRATEGIES == {e.name: e.value for e in Scheduling.Strategy}
    assert RESERVATION_AFFINITY_TYPES == {e.name: e.value for e in ReservationAffinity.Type}


def test_scheduling_and_reservation_enums_are_stored_by_name_and_sent_as_numbers() -> None:
    wire = {"displayName": "x", "jobSpec": {
        "workerPoolSpecs": [{"machineSpec": {"machineType": "a3-highgpu-8g",
                                             "reservationAffinity": {
                                                 "reservationAffinityType": 3,
                                                 "values": ["r"]}}}],
        "scheduling": {"strategy": 6, "maxWaitDuration": "60s"}}}
    stored = normalize_request(wire)
    assert stored["jobSpec"]["scheduling"]["strategy"] == "FLEX_START"
    affinity = stored["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["reservationAffinity"]
    assert affinity["reservationAffinityType"] == "SPECIFIC_RESERVATION"
    assert encode_enums_as_ints(stored) == wire


@pytest.mark.parametrize("scheduling, field", [
    ({"timeout": "90m"}, "job_spec.scheduling.timeout"),
    ({"strategy": "FLEX_START", "maxWaitDuration": 60},
     "job_spec.scheduling.max_wait_duration"),
])
def test_scheduling_problems(scheduling: dict, field: str) -> None:
    body = spec_body()
    body["jobSpec"]["scheduling"] = scheduling
    assert fields(body) == [field]


def test_at_most_four_worker_pools() -> None:
    body = spec_body()
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    body["jobSpec"]["workerPoolSpecs"] = [pool] * 5
    assert fields(body) == ["job_spec.worker_pool_specs"]


def test_project_numbers_are_stable_and_numeric() -> None:
    assert project_number("my-project") == project_number("my-project")
    assert project_number("my-project") != project_number("other-project")
    assert len(project_number("my-project")) == 12
    assert project_number("123456789012") == "123456789012"


def test_timestamps() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(None) is None
    assert parse_rfc3339(rfc3339(1700000000.25) or "") == 1700000000.25
    with pytest.raises(ValueError):
        parse_rfc3339("2024-01-01T00:00:00")  # no zone


def _machine(**spec):
    body = spec_body()
    body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"] = spec
    return custom_job_problems(body)


@pytest.mark.parametrize(("spec", "field", "says"), [
    ({"machineType": "n1-foo-99"}, "machine_type", 'Machine type "n1-foo-99" is not supported'),
    ({"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_A100",
      "acceleratorCount": 1}, "accelerator_type",
     'Accelerator "NVIDIA_TESLA_A100" is not supported for machine type "n1-standard-4".'),
    ({"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T4",
      "acceleratorCount": 3}, "accelerator_count",
     'The accelerator count "3" is not allowed. The allowed numbers of accelerator '
     '"NVIDIA_TESLA_T4" to use with machine type "n1-standard-4" are: [1, 2, 4].'),
    ({"machineType": "a2-highgpu-2g", "acceleratorType": "NVIDIA_TESLA_A100",
      "acceleratorCount": 1}, "accelerator_count", "are: [2]."),
    ({"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T4"},
     "accelerator_type", "Both `accelerator_type` and `accelerator_count`"),
    ({"machineType": "n1-standard-4", "acceleratorCount": 1}, "accelerator_type",
     "Both `accelerator_type` and `accelerator_count`"),
])
def test_machine_refusals_come_from_the_catalog(spec, field, says):
    [(got, message)] = _machine(**spec)
    assert got == f"job_spec.worker_pool_specs[0].machine_spec.{field}"
    assert says in message


@pytest.mark.parametrize("spec", [
    {"machineType": "n1-standard-4"},
    {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
    {"machineType": "a2-highgpu-2g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 2},
    {"machineType": "g2-standard-4", "acceleratorType": "NVIDIA_L4", "acceleratorCount": 1},
])
def test_machines_the_catalog_accepts_pass(spec):
    assert _machine(**spec) == []

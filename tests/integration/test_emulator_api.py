"""The emulator's Vertex API through the real SDK (REST transport): jobs are not executed
(``--no-run``) or simulated, so these need no Docker engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import google.api_core.exceptions as gexc
import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, custom_job, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.emulator.resources import project_number
from caliban_jupyter.errors import UsageError

State = aiplatform_v1.JobState


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(state_dir=tmp_path / "state", port=0,
                                 runner=RunnerConfig(mode="none"))) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator):
    return sdk_client(emulator.endpoint)


def create(client, name: str, **kw):
    return client.create_custom_job(parent=PARENT, custom_job=custom_job(name, **kw),
                                    timeout=TIMEOUT)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_create_then_get_round_trips_the_job(client) -> None:
    job = create(client, "train-1", args=["--lr", "0.1"], env={"A": "b"},
                 labels={"caliban_group": "g1", "index": "1"})
    number = project_number("caliban-test")
    assert number.isdigit() and len(number) == 12
    assert job.name.startswith(f"projects/{number}/locations/us-central1/customJobs/")
    assert job.name.rsplit("/", 1)[1].isdigit()
    assert job.state == State.JOB_STATE_QUEUED
    assert job.create_time.year >= 2024 and job.update_time >= job.create_time
    got = client.get_custom_job(name=job.name, timeout=TIMEOUT)
    assert got == job
    pool = got.job_spec.worker_pool_specs[0]
    assert list(pool.container_spec.args) == ["--lr", "0.1"]
    assert pool.container_spec.env[0].name == "A" and pool.replica_count == 1
    assert dict(got.labels) == {"caliban_group": "g1", "index": "1"}
    # The project id works as well as the number, as on Vertex.
    by_id = job.name.replace(f"projects/{number}", "projects/caliban-test")
    assert client.get_custom_job(name=by_id, timeout=TIMEOUT).name == job.name


def test_enums_round_trip_as_ints_or_names(client, emulator: Emulator) -> None:
    body = custom_job("gpu")
    body["job_spec"]["worker_pool_specs"][0]["machine_spec"].update(
        accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2)
    job = client.create_custom_job(parent=PARENT, custom_job=body, timeout=TIMEOUT)
    machine = job.job_spec.worker_pool_specs[0].machine_spec
    assert machine.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4
    url = f"{emulator.endpoint}/v1/{job.name}"
    _, plain = http("GET", url)
    assert json.loads(plain)["state"] == "JOB_STATE_QUEUED"
    assert json.loads(plain)["jobSpec"]["workerPoolSpecs"][0]["machineSpec"][
        "acceleratorType"] == "NVIDIA_TESLA_T4"
    _, ints = http("GET", url + "?%24alt=json%3Benum-encoding%3Dint")
    assert json.loads(ints)["state"] == 1
    # A hand-written request may send names; the SDK sends ints.
    raw = {"displayName": "by-name", "jobSpec": {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "g2-standard-4", "acceleratorType": "NVIDIA_L4",
                        "acceleratorCount": 1},
        "replicaCount": "1", "containerSpec": {"imageUri": "x"}}]}}
    status, answer = http("POST", f"{emulator.endpoint}/v1/{PARENT}/customJobs",
                          json.dumps(raw).encode())
    assert status == 200, answer
    name = json.loads(answer)["name"]
    got = client.get_custom_job(name=name, timeout=TIMEOUT)
    assert got.job_spec.worker_pool_specs[0].machine_spec.accelerator_type == \
        aiplatform_v1.AcceleratorType.NVIDIA_L4


def test_list_pages_newest_first(client) -> None:
    names = [create(client, f"job-{i}").name for i in range(7)]
    pager = client.list_custom_jobs(request={"parent": PARENT, "page_size": 3},
                                    timeout=TIMEOUT)
    pages = [[j.name for j in page.custom_jobs] for page in pager.pages]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [n for p in pages for n in p] == names[::-1]


def test_list_filters(client) -> None:
    a = create(client, "alpha", labels={"group": "g1", "index": "1"})
    b = create(client, "beta", labels={"group": "g1", "index": "2"})
    c = create(client, "gamma", labels={"group": "g2"})
    client.cancel_custom_job(name=c.name, timeout=TIMEOUT)

    def names(flt: str) -> set[str]:
        pager = client.list_custom_jobs(request={"parent": PARENT, "filter": flt},
                                        timeout=TIMEOUT)
        return {j.display_name for j in pager}

    assert names('labels.group="g1"') == {"alpha", "beta"}
    assert names("labels.index:*") == {"alpha", "beta"}
    assert names('labels.group="g1" AND labels.index="2"') == {"beta"}
    assert names("state=JOB_STATE_CANCELLED") == {"gamma"}
    assert names('state!="JOB_STATE_CANCELLED"') == {"alpha", "beta"}
    assert names('NOT display_name="alpha" AND labels.group:*') == {"beta", "gamma"}
    assert names('display_name="alpha" OR display_name="gamma"') == {"alpha", "gamma"}
    assert names('display_name:"*ta"') == {"beta"}
    assert names('create_time>"2000-01-01T00:00:00Z"') == {"alpha", "beta", "gamma"}
    assert {a.display_name, b.display_name} <= names("")


def test_read_mask_keeps_only_the_asked_fields(client) -> None:
    create(client, "masked", labels={"k": "v"})
    (job,) = client.list_custom_jobs(
        request={"parent": PARENT, "read_mask": {"paths": ["display_name", "labels"]}},
        timeout=TIMEOUT)
    assert job.display_name == "masked" and dict(job.labels) == {"k": "v"}
    assert not job.name and not job.job_spec.worker_pool_specs


def test_filtered_paging(client) -> None:
    for i in range(5):
        create(client, f"keep-{i}", labels={"keep": "yes"})
        create(client, f"drop-{i}")
    pager = client.list_custom_jobs(
        request={"parent": PARENT, "filter": 'labels.keep="yes"', "page_size": 2},
        timeout=TIMEOUT)
    pages = [[j.display_name for j in page.custom_jobs] for page in pager.pages]
    assert pages == [["keep-4", "keep-3"], ["keep-2", "keep-1"], ["keep-0"]]


@pytest.mark.parametrize("flt", ['labels.a==', "state=RUNNING", "colour=red", "(state",
                                 'create_time>"yesterday"'])
def test_bad_filter_is_invalid_argument(client, flt: str) -> None:
    with pytest.raises(gexc.BadRequest) as info:
        list(client.list_custom_jobs(request={"parent": PARENT, "filter": flt},
                                     timeout=TIMEOUT))
    assert info.value.code == 400
    assert "Invalid filter" in info.value.message


def test_bad_page_token_is_invalid_argument(client) -> None:
    with pytest.raises(gexc.BadRequest, match="page_token"):
        list(client.list_custom_jobs(request={"parent": PARENT, "page_token": "nope"},
                                     timeout=TIMEOUT))


def _pool(body: dict) -> dict:
    return body["job_spec"]["worker_pool_specs"][0]


def _no_name(b: dict) -> None:
    b["display_name"] = ""


def _bad_key(b: dict) -> None:
    b["labels"] = {"Bad.Key": "x"}


def _bad_value(b: dict) -> None:
    b["labels"] = {"k": "UPPER"}


def _long_value(b: dict) -> None:
    b["labels"] = {"k": "v" * 64}


def _many_labels(b: dict) -> None:
    b["labels"] = {f"k{i}": "v" for i in range(65)}


def _no_pools(b: dict) -> None:
    b["job_spec"]["worker_pool_specs"] = []


def _no_machine(b: dict) -> None:
    _pool(b)["machine_spec"] = {}


def _no_image(b: dict) -> None:
    _pool(b)["container_spec"]["image_uri"] = ""


def _zero_replicas(b: dict) -> None:
    _pool(b)["replica_count"] = 0


@pytest.mark.parametrize(("mutate", "field"), [
    (_no_name, "display_name"),
    (_bad_key, "labels"),
    (_bad_value, "labels"),
    (_long_value, "longer than 63"),
    (_many_labels, "At most 64 labels"),
    (_no_pools, "job_spec.worker_pool_specs"),
    (_no_machine, "worker_pool_specs[0].machine_spec.machine_type"),
    (_no_image, "worker_pool_specs[0].container_spec.image_uri"),
    (_zero_replicas, "worker_pool_specs[0].replica_count"),
])
def test_create_validation(client, mutate, field: str) -> None:
    body = custom_job("valid", labels={"ok": "yes"})
    mutate(body)
    with pytest.raises(gexc.BadRequest) as info:
        client.create_custom_job(parent=PARENT, custom_job=body, timeout=TIMEOUT)
    assert info.value.code == 400
    assert "List of found errors" in info.value.message
    assert info.value.details[0]["fieldViolations"]
    assert field in info.value.message
    # Nothing was stored.
    assert list(client.list_custom_jobs(parent=PARENT, timeout=TIMEOUT)) == []


def test_unknown_job_is_not_found(client) -> None:
    with pytest.raises(gexc.NotFound) as info:
        client.get_custom_job(name=f"{PARENT}/customJobs/123", timeout=TIMEOUT)
    assert info.value.code == 404 and "does not exist" in info.value.message
    with pytest.raises(gexc.NotFound):
        client.cancel_custom_job(name=f"{PARENT}/customJobs/123", timeout=TIMEOUT)
    other = create(client, "elsewhere")
    # A job is only found under its own location.
    wrong = other.name.replace("us-central1", "europe-west4")
    with pytest.raises(gexc.NotFound):
        client.get_custom_job(name=wrong, timeout=TIMEOUT)


def test_cancel_and_delete(client) -> None:
    job = create(client, "to-delete")
    # Over REST google-api-core picks the exception by HTTP status: FAILED_PRECONDITION
    # arrives as BadRequest (400), its status name in the body, exactly as from Vertex.
    with pytest.raises(gexc.BadRequest) as info:
        client.delete_custom_job(name=job.name, timeout=TIMEOUT)
    assert info.value.code == 400 and "Cancel it first" in info.value.message
    assert info.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert client.cancel_custom_job(name=job.name, timeout=TIMEOUT) is None
    got = client.get_custom_job(name=job.name, timeout=TIMEOUT)
    assert got.state == State.JOB_STATE_CANCELLED and got.end_time
    with pytest.raises(gexc.BadRequest, match="cannot be cancelled"):
        client.cancel_custom_job(name=job.name, timeout=TIMEOUT)
    operation = client.delete_custom_job(name=job.name, timeout=TIMEOUT)
    assert operation.done()
    operation.result(timeout=TIMEOUT)
    assert "/operations/" in operation.operation.name
    with pytest.raises(gexc.NotFound):
        client.get_custom_job(name=job.name, timeout=TIMEOUT)


def test_pages_logs_and_health(client, emulator: Emulator) -> None:
    job = create(client, "<b>shown escaped</b>", args=["--x", "1"])
    job_id = job.name.rsplit("/", 1)[1]
    status, page = http("GET", f"{emulator.endpoint}/ui/jobs/{job_id}")
    assert status == 200
    assert b"&lt;b&gt;shown escaped&lt;/b&gt;" in page and b"QUEUED" in page
    assert b"--x" in page
    status, index = http("GET", f"{emulator.endpoint}/ui/")
    assert status == 200 and job_id.encode() in index
    status, log = http("GET", f"{emulator.endpoint}/logs/{job_id}")
    assert (status, log) == (200, b"")
    status, log = http("GET", f"{emulator.endpoint}/v1/{job.name}:logs?tail=5")
    assert (status, log) == (200, b"")
    status, health = http("GET", f"{emulator.endpoint}/healthz")
    assert status == 200 and json.loads(health)["status"] == "ok"
    status, missing = http("GET", f"{emulator.endpoint}/v1/nothing/here")
    assert status == 404 and json.loads(missing)["error"]["status"] == "NOT_FOUND"


def test_restart_keeps_every_job(tmp_path: Path) -> None:
    config = EmulatorConfig(state_dir=tmp_path, port=0, runner=RunnerConfig(mode="none"))
    with Emulator(config) as first:
        names = [create(sdk_client(first.endpoint), f"j{i}").name for i in range(3)]
        with pytest.raises(UsageError, match="already uses the state dir"):
            Emulator(config).start()
    with Emulator(config) as second:
        client = sdk_client(second.endpoint)
        listed = [j.name for j in client.list_custom_jobs(parent=PARENT, timeout=TIMEOUT)]
        assert listed == names[::-1]
        # New ids keep increasing after a restart.
        assert int(create(client, "after").name.rsplit("/", 1)[1]) > \
            int(names[-1].rsplit("/", 1)[1])


def test_simulated_jobs_walk_through_states_within_max_running(tmp_path: Path) -> None:
    runner = RunnerConfig(mode="simulate", simulate_seconds=0.3, max_running=2)
    with Emulator(EmulatorConfig(state_dir=tmp_path, port=0, runner=runner)) as emu:
        client = sdk_client(emu.endpoint)
        names = [create(client, f"sim-{i}").name for i in range(5)]

        parent = names[0].rsplit("/customJobs/", 1)[0]

        def finished():
            # One listing is one snapshot; reading the jobs one by one under load could see
            # a job start after another's read and count more than ran at once.
            listed = {j.name: j for j in client.list_custom_jobs(parent=parent,
                                                                 timeout=TIMEOUT)}
            jobs = [listed[n] for n in names]
            running = [j for j in jobs if j.state in (State.JOB_STATE_PENDING,
                                                      State.JOB_STATE_RUNNING)]
            assert len(running) <= 2
            return jobs if all(j.state == State.JOB_STATE_SUCCEEDED for j in jobs) else None

        jobs = wait_for(finished, what="simulated jobs to succeed")
    spans = sorted((j.start_time, j.end_time) for j in jobs)
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2
    assert all(j.create_time <= j.start_time <= j.end_time for j in jobs)


def test_cancel_a_simulated_running_job(tmp_path: Path) -> None:
    runner = RunnerConfig(mode="simulate", simulate_seconds=3600)
    with Emulator(EmulatorConfig(state_dir=tmp_path, port=0, runner=runner)) as emu:
        client = sdk_client(emu.endpoint)
        name = create(client, "long").name
        wait_for(lambda: client.get_custom_job(name=name, timeout=TIMEOUT).state
                 == State.JOB_STATE_RUNNING, what="RUNNING")
        client.cancel_custom_job(name=name, timeout=TIMEOUT)
        job = wait_for(lambda: (j := client.get_custom_job(name=name, timeout=TIMEOUT)).state
                       == State.JOB_STATE_CANCELLED and j, what="CANCELLED")
    # Interrupted, not run out: it ended well before its simulated hour (the job's own
    # times, not the test's).
    assert job.start_time <= job.end_time < job.start_time + timedelta(hours=1)

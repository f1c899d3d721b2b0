"""Jobs really run on the local Docker engine: success, failure, cancel, max-running,
restart with running containers, and a container that vanished meanwhile.

The test program waits for a file the test creates (``docker exec``), so each scenario
is decided by the test, never by how fast the machine is.
"""

from __future__ import annotations

import io
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, custom_job, remove_containers, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.emulator.containers import LABEL_INSTANCE, LABEL_JOB

pytestmark = pytest.mark.docker
State = aiplatform_v1.JobState
ACTIVE = (State.JOB_STATE_PENDING, State.JOB_STATE_RUNNING)

PROGRAM = b"""\
import os, sys, time
print("ARGS", *sys.argv[1:], flush=True)
print("GREETING", os.environ.get("GREETING", "-"), os.environ.get("CLOUD_ML_JOB_ID"), flush=True)
if os.environ.get("WAIT_FOR_GO"):
    while not os.path.exists("/tmp/go"):
        time.sleep(0.05)
    print("released", flush=True)
print("to stderr", file=sys.stderr, flush=True)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


@pytest.fixture(scope="module")
def echo_image(docker_client, base_image: str) -> Iterator[str]:
    """A tiny image whose entrypoint prints its args and env, then exits as told."""
    dockerfile = (f"FROM {base_image}\nCOPY echo.py /echo.py\n"
                  'ENTRYPOINT ["python3", "/echo.py"]\n').encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("echo.py", PROGRAM)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = f"caliban-emulator-echo:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag,
                               network_mode="host", rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


def start(state_dir: Path, max_running: int = 4) -> Emulator:
    runner = RunnerConfig(mode="docker", max_running=max_running, stop_grace_seconds=2)
    return Emulator(EmulatorConfig(state_dir=state_dir, port=0, runner=runner)).start()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = start(tmp_path / "state", max_running=2)
    yield emu
    emu.stop()


def job_id(name: str) -> str:
    return name.rsplit("/", 1)[1]


def containers_of(docker_client, emu_instance: str, name: str) -> list:
    return docker_client.containers.list(all=True, filters={"label": [
        f"{LABEL_INSTANCE}={emu_instance}", f"{LABEL_JOB}={job_id(name)}"]})


def release(docker_client, instance: str, name: str) -> None:
    """Let a WAIT_FOR_GO job finish."""
    (container,) = containers_of(docker_client, instance, name)
    assert container.exec_run(["touch", "/tmp/go"]).exit_code == 0


def state_of(client, name: str) -> aiplatform_v1.CustomJob:
    return client.get_custom_job(name=name, timeout=TIMEOUT)


def wait_state(client, name: str, *states: State) -> aiplatform_v1.CustomJob:
    return wait_for(lambda: (j := state_of(client, name)).state in states and j,
                    what=f"{name} to reach {states}")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read().decode()


def test_job_runs_and_succeeds_with_its_args_in_the_log(
        emulator: Emulator, echo_image: str, docker_client) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "echo", image=echo_image, args=["--lr", "0.01", "two words"],
        env={"GREETING": "hello"}), timeout=TIMEOUT)
    done = wait_state(client, job.name, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED)
    assert done.state == State.JOB_STATE_SUCCEEDED, done.error
    assert done.create_time <= done.start_time <= done.end_time
    log = fetch(f"{emulator.endpoint}/logs/{job_id(job.name)}")
    assert "ARGS --lr 0.01 two words\n" in log
    assert f"GREETING hello {job_id(job.name)}\n" in log and "to stderr\n" in log
    # stdout and stderr are separate streams: compare with the log, not a fixed order.
    lines = log.splitlines(keepends=True)
    assert fetch(f"{emulator.endpoint}/v1/{job.name}:logs?tail=2") == "".join(lines[-2:])
    page = fetch(f"{emulator.endpoint}/ui/jobs/{job_id(job.name)}")
    assert "SUCCEEDED" in page and "two words" in page
    # The log was saved and the container removed.
    assert containers_of(docker_client, emulator.store.instance, job.name) == []


def test_command_replaces_the_entrypoint(emulator: Emulator, echo_image: str) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "cmd", image=echo_image, command=["sh", "-c"], args=["echo from-sh $0", "x"]),
        timeout=TIMEOUT)
    wait_state(client, job.name, State.JOB_STATE_SUCCEEDED)
    assert fetch(f"{emulator.endpoint}/logs/{job_id(job.name)}") == "from-sh x\n"


def test_failing_program_fails_the_job_with_its_exit_status(
        emulator: Emulator, echo_image: str) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "fails", image=echo_image, args=["boom"], env={"EXIT_CODE": "3"}), timeout=TIMEOUT)
    done = wait_state(client, job.name, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED)
    assert done.state == State.JOB_STATE_FAILED
    assert "non-zero status of 3" in done.error.message and done.error.code == 3
    assert f"/ui/jobs/{job_id(job.name)}" in done.error.message
    assert "ARGS boom" in fetch(f"{emulator.endpoint}/logs/{job_id(job.name)}")


def test_missing_image_fails_the_job(emulator: Emulator) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "no-image", image="127.0.0.1:5000/caliban-test/missing:nope"), timeout=TIMEOUT)
    done = wait_state(client, job.name, State.JOB_STATE_FAILED)
    assert "could not be pulled" in done.error.message


def test_cancel_a_running_job(emulator: Emulator, echo_image: str, docker_client) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "forever", image=echo_image, env={"WAIT_FOR_GO": "1"}), timeout=TIMEOUT)
    wait_state(client, job.name, State.JOB_STATE_RUNNING)
    client.cancel_custom_job(name=job.name, timeout=TIMEOUT)
    assert state_of(client, job.name).state in (State.JOB_STATE_CANCELLING,
                                                State.JOB_STATE_CANCELLED)
    done = wait_state(client, job.name, State.JOB_STATE_CANCELLED)
    assert done.end_time
    wait_for(lambda: not containers_of(docker_client, emulator.store.instance, job.name),
             what="the container to be removed")
    client.delete_custom_job(name=job.name, timeout=TIMEOUT).result(timeout=TIMEOUT)


def test_max_running_is_respected(emulator: Emulator, echo_image: str,
                                  docker_client) -> None:
    client = sdk_client(emulator.endpoint)  # the fixture allows 2 at once
    names = [client.create_custom_job(parent=PARENT, custom_job=custom_job(
        f"wait-{i}", image=echo_image, env={"WAIT_FOR_GO": "1"}), timeout=TIMEOUT).name
        for i in range(4)]
    first = names[:2]
    for name in first:
        wait_state(client, name, State.JOB_STATE_RUNNING)
    # Both slots are held by jobs that cannot finish: the others must still be queued.
    assert [state_of(client, n).state for n in names[2:]] == [State.JOB_STATE_QUEUED] * 2
    for name in first:
        release(docker_client, emulator.store.instance, name)
    for name in names[2:]:
        wait_state(client, name, State.JOB_STATE_RUNNING)
        release(docker_client, emulator.store.instance, name)
    jobs = [wait_state(client, n, State.JOB_STATE_SUCCEEDED) for n in names]
    # No instant had three jobs between start and end.
    for job in jobs:
        overlapping = [j for j in jobs if j.start_time <= job.start_time < j.end_time]
        assert len(overlapping) <= 2


def test_restart_mid_run_loses_nothing(tmp_path: Path, echo_image: str,
                                       docker_client) -> None:
    state = tmp_path / "state"
    first = start(state, max_running=1)
    client = sdk_client(first.endpoint)
    running = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "survivor", image=echo_image, args=["kept"], env={"WAIT_FOR_GO": "1"}),
        timeout=TIMEOUT).name
    queued = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "queued", image=echo_image, args=["later"]), timeout=TIMEOUT).name
    wait_state(client, running, State.JOB_STATE_RUNNING)
    instance = first.store.instance
    first.stop()

    # While no emulator runs, the container keeps running.
    (container,) = containers_of(docker_client, instance, running)
    container.reload()
    assert container.status == "running"

    second = start(state, max_running=1)
    try:
        client = sdk_client(second.endpoint)
        assert state_of(client, running).state == State.JOB_STATE_RUNNING
        assert state_of(client, queued).state == State.JOB_STATE_QUEUED
        release(docker_client, instance, running)
        done = wait_state(client, running, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED)
        assert done.state == State.JOB_STATE_SUCCEEDED, done.error
        log = fetch(f"{second.endpoint}/logs/{job_id(running)}")
        assert log.startswith("ARGS kept\n") and "released\n" in log
        assert wait_state(client, queued, State.JOB_STATE_SUCCEEDED)
        assert "ARGS later" in fetch(f"{second.endpoint}/logs/{job_id(queued)}")
    finally:
        second.stop()


def test_vanished_container_fails_its_job(tmp_path: Path, echo_image: str,
                                          docker_client) -> None:
    state = tmp_path / "state"
    first = start(state)
    client = sdk_client(first.endpoint)
    name = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "doomed", image=echo_image, env={"WAIT_FOR_GO": "1"}), timeout=TIMEOUT).name
    wait_state(client, name, State.JOB_STATE_RUNNING)
    instance = first.store.instance
    first.stop()
    for container in containers_of(docker_client, instance, name):
        container.remove(force=True)
    second = start(state)
    try:
        job = state_of(sdk_client(second.endpoint), name)
        assert job.state == State.JOB_STATE_FAILED
        assert "vanished" in job.error.message and "Resubmit" in job.error.message
    finally:
        second.stop()


def test_remove_containers_cleans_up_after_a_stopped_emulator(
        tmp_path: Path, echo_image: str, docker_client) -> None:
    state = tmp_path / "state"
    emu = start(state)
    client = sdk_client(emu.endpoint)
    name = client.create_custom_job(parent=PARENT, custom_job=custom_job(
        "left-behind", image=echo_image, env={"WAIT_FOR_GO": "1"}), timeout=TIMEOUT).name
    wait_state(client, name, State.JOB_STATE_RUNNING)
    instance = emu.store.instance
    emu.stop()
    assert len(containers_of(docker_client, instance, name)) == 1
    assert remove_containers(state) == 1
    assert containers_of(docker_client, instance, name) == []

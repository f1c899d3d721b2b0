"""A job whose worker thread meets an unexpected error ends, never hangs: FAILED with the
error's type and message and where the traceback is, its containers removed; a cancel
that races with the error still ends CANCELLED.

Faults are injected into the emulator's container layer (``containers.create``,
``containers.wait``, ``containers.stream_logs``) of an in-process emulator; everything
else is real: the Docker engine, the SDK, the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, custom_job, remove_containers, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.emulator import containers as emulator_containers
from caliban_jupyter.emulator.containers import LABEL_INSTANCE, LABEL_JOB

pytestmark = pytest.mark.docker
State = aiplatform_v1.JobState
DONE = (State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED, State.JOB_STATE_CANCELLED)
# Bounds a broken run only (a hang before the fix): asserts nothing about speed.
DEADLINE = 60.0


class Injected(Exception):
    """The unexpected error (a bug, say) the tests inject."""


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    runner = RunnerConfig(mode="docker", stop_grace_seconds=1,
                          log_file=str(tmp_path / "emulator.log"))
    emu = Emulator(EmulatorConfig(state_dir=tmp_path / "state", port=0,
                                  runner=runner)).start()
    yield emu
    emu.stop()
    remove_containers(tmp_path / "state")


def submit(emu: Emulator, name: str, program: str, base_image: str) -> str:
    client = sdk_client(emu.endpoint)
    return str(client.create_custom_job(parent=PARENT, custom_job=custom_job(
        name, image=base_image, command=["python3", "-c"], args=[program]),
        timeout=TIMEOUT).name)


def wait_state(emu: Emulator, name: str, *states: State) -> aiplatform_v1.CustomJob:
    client = sdk_client(emu.endpoint)
    return wait_for(lambda: (j := client.get_custom_job(name=name, timeout=TIMEOUT)).state
                    in states and j, timeout=DEADLINE, what=f"{name} to reach {states}")


def containers_of(docker_client: Any, emu: Emulator, name: str) -> list[Any]:
    return list(docker_client.containers.list(all=True, filters={"label": [
        f"{LABEL_INSTANCE}={emu.store.instance}", f"{LABEL_JOB}={name.rsplit('/', 1)[1]}"]}))


def test_an_error_creating_the_container_fails_the_job_with_the_reason(
        emulator: Emulator, base_image: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    def create(*args: Any, **kwargs: Any) -> Any:
        raise Injected("no container for you")

    monkeypatch.setattr(emulator_containers, "create", create)
    name = submit(emulator, "create-crash", "print('never runs')", base_image)
    done = wait_state(emulator, name, *DONE)
    assert done.state == State.JOB_STATE_FAILED
    assert done.error.code == 13  # INTERNAL: the emulator's trouble, not the program's
    message = done.error.message
    assert "Injected: no container for you" in message
    assert str(tmp_path / "emulator.log") in message  # where the traceback is
    crash = [r for r in caplog.records if r.exc_info and r.exc_info[0] is Injected]
    assert crash and name.rsplit("/", 1)[1] in crash[0].getMessage()


def test_an_error_following_the_container_fails_the_job_and_removes_it(
        emulator: Emulator, base_image: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, docker_client: Any) -> None:
    def wait(container: Any) -> int:
        raise Injected("lost the exit status")

    monkeypatch.setattr(emulator_containers, "wait", wait)
    name = submit(emulator, "wait-crash", "print('ran')", base_image)
    done = wait_state(emulator, name, *DONE)
    assert done.state == State.JOB_STATE_FAILED
    assert "Injected: lost the exit status" in done.error.message
    assert "emulator.log" in done.error.message
    assert any(r.exc_info and r.exc_info[0] is Injected for r in caplog.records)
    assert containers_of(docker_client, emulator, name) == []


def test_a_docker_error_following_the_container_fails_the_job_as_docker_trouble(
        emulator: Emulator, base_image: str, monkeypatch: pytest.MonkeyPatch,
        docker_client: Any) -> None:
    import docker.errors

    def stream_logs(container: Any) -> Iterator[bytes]:
        raise docker.errors.APIError("injected engine error")
        yield b""  # a generator, as the real one

    monkeypatch.setattr(emulator_containers, "stream_logs", stream_logs)
    name = submit(emulator, "logs-crash", "print('ran')", base_image)
    done = wait_state(emulator, name, *DONE)
    assert done.state == State.JOB_STATE_FAILED
    # The runner's own handling of Docker errors, not the catch-all for the unexpected.
    assert done.error.message.startswith("Docker could not run the job's containers: ")
    assert "injected engine error" in done.error.message
    assert containers_of(docker_client, emulator, name) == []


def test_a_cancel_racing_with_an_error_still_cancels(
        emulator: Emulator, base_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def wait(container: Any) -> int:
        # The error strikes only once the cancel is under way.
        job_id = int(container.labels[LABEL_JOB])
        wait_for(lambda: emulator.store.get(job_id).state == "JOB_STATE_CANCELLING",
                 timeout=DEADLINE, what="the cancel")
        raise Injected("failed while cancelling")

    monkeypatch.setattr(emulator_containers, "wait", wait)
    name = submit(emulator, "cancel-crash", "import time; time.sleep(3600)", base_image)
    wait_state(emulator, name, State.JOB_STATE_RUNNING)
    sdk_client(emulator.endpoint).cancel_custom_job(name=name, timeout=TIMEOUT)
    done = wait_state(emulator, name, *DONE)
    assert done.state == State.JOB_STATE_CANCELLED, done.error

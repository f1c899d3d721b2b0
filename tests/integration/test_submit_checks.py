"""Checks made when submitting, against the real engine, registry and emulator: an
--image_tag that does not exist is refused with nothing recorded, and labels changed by
sanitizing are reported as the jobs go out."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from caliban_jupyter.emulator import control
from caliban_jupyter.errors import UsageError
from caliban_jupyter.events import Event, Warning_
from caliban_jupyter.history import History
from caliban_jupyter.packaging.image_check import require_image

from .test_faults import all_jobs

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pushed(docker_client, base_image, registry) -> Iterator[str]:
    """The base image, pushed to the loopback registry under a fresh name."""
    repository = f"{registry}/caliban-check-{uuid.uuid4().hex[:8]}"
    docker_client.images.get(base_image).tag(repository, "present")
    for chunk in docker_client.api.push(repository, tag="present", stream=True, decode=True):
        assert "error" not in chunk, chunk
    yield f"{repository}:present"
    docker_client.images.remove(f"{repository}:present")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Path, dict, str]]:
    home = tmp_path / "home"
    record = control.start(home, ["--port", "0", "--no-run"])
    env = dict(os.environ, CALIBAN_HOME=str(home), NO_GCE_CHECK="true",
               NO_PROXY="127.0.0.1,localhost")
    env.pop("CALIBAN_ENDPOINT", None)
    try:
        yield home, env, str(record["endpoint"])
    finally:
        control.stop(home)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "train.py").write_text("print('never run')\n")
    return root


def cloud(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend",
                           "local", "--nogpu", *args, "trainer.train"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def test_an_image_tag_that_does_not_exist_is_refused_and_nothing_recorded(
        emulator, project, registry):
    home, env, endpoint = emulator
    missing = f"{registry}/caliban-no-such-image-{uuid.uuid4().hex[:8]}:1"
    r = cloud(project, env, "--image_tag", missing, "--xgroup", "ghost")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"caliban cloud: error: --image_tag {missing}: no such image neither on this " \
           "machine's Docker engine nor in its registry" in r.stderr
    assert "nothing was submitted" in r.stderr
    with History(home / "history.sqlite") as history:
        assert history.group("ghost") is None and history.count_jobs() == 0
    assert all_jobs(endpoint, "ghost") == []


def test_an_image_on_this_engine_or_in_the_registry_is_submitted(emulator, project,
                                                                 base_image, pushed):
    home, env, endpoint = emulator
    for group, image in (("on-engine", base_image), ("in-registry", pushed)):
        r = cloud(project, env, "--image_tag", image, "--xgroup", group)
        assert r.returncode == 0, r.stderr
        assert len(all_jobs(endpoint, group)) == 1


def test_changed_labels_are_reported_at_submission(emulator, project, base_image):
    home, env, endpoint = emulator
    r = cloud(project, env, "--image_tag", base_image, "--xgroup", "notes", "-l", "émoji=x",
              "-l", "ключ=значение")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "warning: label 'émoji=x' (--label) became 'moji=x': dropped 'é' (Vertex AI " \
           "labels allow only lowercase letters, digits, '_' and '-')" in lines
    assert "warning: label 'ключ=значение' (--label) dropped: no character of its key is " \
           "allowed in a Vertex AI label key (lowercase letters, digits, '_' and '-')" in lines
    (job,) = all_jobs(endpoint, "notes")
    assert job["labels"]["moji"] == "x"


# ------------------------------- the same checks for a Vertex image (no emulator involved)

def test_registry_images_are_checked_through_the_engine(pushed, registry):
    require_image(pushed, local=False)
    with pytest.raises(UsageError, match=r"no such image in its registry \(127\.0\.0\.1:5000\)"):
        require_image(f"{registry}/caliban-no-such-image:1", local=False)


def test_without_an_engine_the_registry_api_is_asked(pushed, registry, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    events: list[Event] = []
    require_image(pushed, local=False, progress=events.append)
    assert events == []
    with pytest.raises(UsageError, match="no such image in its registry"):
        require_image(f"{registry}/caliban-no-such-image:1", local=False)


def test_a_registry_that_cannot_be_asked_is_a_warning_not_a_refusal(monkeypatch):
    """Nothing listens on 127.0.0.1:1: the job service may still reach the registry."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    events: list[Event] = []
    require_image("127.0.0.1:1/team/img:1", local=False, progress=events.append)
    assert len(events) == 1 and isinstance(events[0], Warning_)
    assert events[0].message.startswith("warning: could not check that 127.0.0.1:1/team/img:1 "
                                        "exists")


def test_a_failed_build_gives_the_default_group_name_back(emulator, project, base_image):
    """The default group is claimed before the build; a build that fails leaves no empty
    group behind for `caliban status` to show."""
    home, env, endpoint = emulator
    (project / "requirements.txt").write_text("--no-index\ncaliban-no-such-package==9.9\n")
    r = cloud(project, {**env, "CALIBAN_BASE_IMAGE": base_image}, "--build", "docker")
    assert r.returncode == 1 and "caliban-no-such-package" in r.stderr, r.stderr
    with History(home / "history.sqlite") as history:
        assert history.group_names() == [] and history.count_jobs() == 0

"""`caliban cloud` processes submitting at once into one CALIBAN_HOME lose nothing: every
job is in the shared history (SQLite, WAL) and on the emulator, exactly once; and sweeps
started in the same second without --xgroup get distinct experiment groups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from caliban_jupyter.emulator import control
from caliban_jupyter.history import History

from .test_faults import all_jobs

PER_PROCESS = 25


@pytest.fixture
def setup(tmp_path: Path, base_image: str) -> Iterator[tuple[Path, Path, dict, str]]:
    home = tmp_path / "home"
    project = tmp_path / "proj"
    (project / "trainer").mkdir(parents=True)
    (project / "trainer" / "train.py").write_text("print('never run')\n")
    (project / "exp.json").write_text(json.dumps({"seed": list(range(PER_PROCESS))}))
    # Jobs are recorded, not run: this is about submission and history.
    record = control.start(home, ["--port", "0", "--no-run"])
    env = dict(os.environ, CALIBAN_HOME=str(home), NO_GCE_CHECK="true",
               NO_PROXY="127.0.0.1,localhost")
    env.pop("CALIBAN_ENDPOINT", None)
    try:
        yield home, project, env, str(record["endpoint"])
    finally:
        control.stop(home)


# --image_tag skips the build. It must name an image that exists (it is checked before
# anything is submitted): the local base image, which the emulator's engine has.
def cloud_args(image: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend", "local",
            "--nogpu", "--image_tag", image, *extra, "--experiment_config", "exp.json",
            "trainer.train"]


def test_four_processes_submitting_at_once(setup, base_image) -> None:
    home, project, env, endpoint = setup
    procs = [subprocess.Popen(cloud_args(base_image, "--xgroup", f"conc{i}"), cwd=project,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for i in range(4)]
    outcomes = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outcomes, strict=True):
        assert p.returncode == 0, err
        assert "started the local Vertex emulator" not in err  # reused the running one
    with History(home / "history.sqlite") as history:
        for i in range(4):
            jobs = history.jobs(f"conc{i}")
            assert len(jobs) == PER_PROCESS
            assert all(j.is_submitted and j.resource_name for j in jobs)
            assert len({j.submission_id for j in jobs}) == PER_PROCESS
    for i in range(4):
        assert len(all_jobs(endpoint, f"conc{i}")) == PER_PROCESS


# Each process imports everything, says it is ready, then waits for the gate file, so that
# all of them plan (and so name their default group) within a few milliseconds of each other.
GATED = """\
import os, sys, time
import caliban_jupyter.cli, caliban_jupyter.service.plan, caliban_jupyter.backends.local
import caliban_jupyter.spec.accelerators, caliban_jupyter.spec.experiments
gate, deadline = sys.argv[1], time.monotonic() + 120
open(f"{gate}.ready.{os.getpid()}", "w").close()
while not os.path.exists(gate):
    if time.monotonic() > deadline:
        sys.exit("the gate never opened")
    time.sleep(0.005)
sys.exit(caliban_jupyter.cli.main(sys.argv[2:]))
"""


def open_gate_early_in_a_second(gate: Path, processes: int) -> None:
    """Once every process is ready, open the gate just after a wall-clock second starts:
    they then plan in one second, the case where default group names used to collide."""
    deadline = time.monotonic() + 240
    while len(list(gate.parent.glob(f"{gate.name}.ready.*"))) < processes:
        assert time.monotonic() < deadline, "the submitting processes never got ready"
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while time.time() % 1 > 0.2 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.write_text("go")


def test_default_groups_of_simultaneous_submissions_are_distinct(setup, base_image) -> None:
    home, project, env, endpoint = setup
    gate = project / "gate"
    procs = [subprocess.Popen([sys.executable, "-c", GATED, str(gate),
                               *cloud_args(base_image, "--format", "json")[3:]],
                              cwd=project, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    open_gate_early_in_a_second(gate, len(procs))
    outcomes = [p.communicate(timeout=300) for p in procs]
    groups = []
    for p, (out, err) in zip(procs, outcomes, strict=True):
        assert p.returncode == 0, err
        records = json.loads(out)
        (group,) = {r["xgroup"] for r in records}
        assert f"submitted in experiment group {group}." in err
        groups.append(group)
    assert len(set(groups)) == 3, groups
    with History(home / "history.sqlite") as history:
        for group in groups:
            jobs = history.jobs(group)
            # Each group holds its own sweep only: indices 1..N once each.
            assert sorted(j.index for j in jobs) == list(range(1, PER_PROCESS + 1)), group
            assert {j.labels["xgroup"] for j in jobs} == {group}
    for group in groups:
        assert len(all_jobs(endpoint, group)) == PER_PROCESS

"""The server extension against the real pipeline: a notebook built by the Docker engine,
submitted to the local Vertex emulator through the real SDK, followed by the server's one
refresher, stopped and resubmitted over REST; and a group the CLI submitted from another
process appearing and finishing by itself."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.docker]

BASE_IMAGE = os.environ.get("CALIBAN_TEST_BASE_IMAGE", "caliban-base:bookworm-py3")


@pytest.fixture(autouse=True)
def emulator_cleanup(caliban_home):
    """Stop the emulator the server started for this test's home, and its containers."""
    yield
    from support.emulator import remove_containers

    from caliban_jupyter.emulator.control import default_state_dir, stop

    stop(caliban_home)
    remove_containers(default_state_dir(caliban_home))


def write_notebook(path, parameters: str, body: str) -> str:
    nb = new_notebook(cells=[new_code_cell(parameters), new_code_cell(body)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path.name


async def poll(api, xgroup: str, done, *, timeout: float = 300, what: str = "") -> dict:
    """GET the group until ``done(group)``; fail after ``timeout`` s (a bound, not a test
    of speed)."""
    deadline = time.monotonic() + timeout
    while True:
        status, group = await api("GET", "groups", xgroup)
        if status == 200 and done(group):
            return group
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {status} {group}")
        await asyncio.sleep(0.5)


def states(group: dict) -> list[str]:
    return [j["state"] for j in group["jobs"]]


OPTIONS = {"backend": "local", "nogpu": True, "base_image": BASE_IMAGE}


async def test_notebook_submission_reaches_succeeded(api, jp_root_dir):
    name = write_notebook(jp_root_dir / "train.ipynb", "lr = 0.1\nsteps = 3",
                          "print('RESULT', lr * steps)")
    status, body = await api("POST", "submissions", body={
        "notebook": name, "options": {**OPTIONS, "xgroup": "srv-ok",
                                      "experiment_config": {"lr": [1, 2]}}})
    assert status == 202, body
    assert body["xgroup"] == "srv-ok" and body["submission"]["state"] == "building"
    # Listed at once, while the image builds.
    _, groups = await api("GET", "groups")
    assert groups["groups"][0]["xgroup"] == "srv-ok"
    group = await poll(api, "srv-ok", lambda g: states(g) == ["SUCCEEDED"] * 2,
                       what="both jobs SUCCEEDED")
    assert group["submission"]["state"] == "submitted" and group["finished"]
    assert [j["args"] for j in group["jobs"]] == [["--lr", "1"], ["--lr", "2"]]
    status, logs = await api("GET", "jobs", group["jobs"][1]["display_name"], "logs")
    assert status == 200 and "RESULT 6" in logs["text"]
    # The job ran the notebook as a notebook: the panel links the executed notebook.
    job = group["jobs"][1]
    assert job["notebook_url"] == job["url"] + "/notebook"
    with urllib.request.urlopen(job["notebook_url"], timeout=10) as answer:
        executed = nbformat.reads(answer.read().decode(), as_version=4)
    assert "RESULT 6" in executed.cells[-1].outputs[0]["text"]
    _, status_body = await api("GET", "status")
    assert status_body["refresher"]["refreshes"] >= 1


async def test_stop_a_running_job_then_resubmit_it(api, jp_root_dir):
    name = write_notebook(jp_root_dir / "slow.ipynb", "seconds = 0",
                          "import time\nprint('START', flush=True)\ntime.sleep(seconds)")
    status, body = await api("POST", "submissions", body={
        "notebook": name, "options": {**OPTIONS, "xgroup": "srv-stop",
                                      "experiment_config": {"seconds": [600, 0]}}})
    assert status == 202, body
    group = await poll(api, "srv-stop", lambda g: len(g["jobs"]) == 2
                       and g["jobs"][0]["state"] == "RUNNING", what="job 1 RUNNING")
    slow = group["jobs"][0]["display_name"]
    status, stopped = await api("POST", "groups", "srv-stop", "stop", body={"jobs": [slow]})
    assert status == 200 and [j["display_name"] for j in stopped["jobs"]] == [slow]
    group = await poll(api, "srv-stop", lambda g: states(g) == ["CANCELLED", "SUCCEEDED"],
                       what="job 1 CANCELLED, job 2 SUCCEEDED")
    assert group["finished"]
    # Resubmitting the cancelled job by name: a new attempt in the same group.
    status, again = await api("POST", "groups", "srv-stop", "resubmit", body={"jobs": [slow]})
    assert status == 200 and again["jobs"][0]["display_name"] == f"{slow}-retry1"
    group = await poll(api, "srv-stop", lambda g: g["jobs"][0]["display_name"].endswith(
        "-retry1") and g["jobs"][0]["state"] == "RUNNING", what="the retry RUNNING")
    status, stopped = await api("POST", "groups", "srv-stop", "stop")  # the whole group
    assert [j["display_name"] for j in stopped["jobs"]] == [f"{slow}-retry1"]
    await poll(api, "srv-stop", lambda g: g["finished"], what="the group finished")


async def test_a_group_submitted_by_the_cli_appears_and_finishes_by_itself(api, jp_root_dir,
                                                                          caliban_home):
    (jp_root_dir / "train.py").write_text("print('CLI JOB')\n")
    _, before = await api("GET", "groups")
    assert before["groups"] == []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "CALIBAN_HOME": str(caliban_home), "CALIBAN_BASE_IMAGE": BASE_IMAGE}
    # Another process, sharing only the SQLite history with the server.
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend",
                         "local", "--nogpu", "--xgroup", "from-cli", "train.py"],
        cwd=jp_root_dir, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    _, groups = await api("GET", "groups")
    assert [g["xgroup"] for g in groups["groups"]] == ["from-cli"]
    # Nobody but the server's refresher asks the emulator from here on.
    group = await poll(api, "from-cli", lambda g: states(g) == ["SUCCEEDED"],
                       what="the CLI's job SUCCEEDED")
    assert group["finished"]
    _, status = await api("GET", "status")
    assert status["refresher"]["refreshes"] >= 1

"""Multi-replica jobs, timeouts and Spot preemption on the emulator, as Vertex runs them:
every replica a container on the real Docker engine, reached through the real SDK (and,
for --timeout, through `caliban cloud` itself).

The replicas' program decides everything by itself (the chief waits for its workers on
the port CLUSTER_SPEC gives it), so no scenario depends on how fast the machine is.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from support import wait_for
from support.emulator import PARENT, TIMEOUT, sdk_client

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig
from caliban_jupyter.emulator.containers import LABEL_INSTANCE, LABEL_JOB
from caliban_jupyter.emulator.faults import FaultConfig

pytestmark = pytest.mark.docker
State = aiplatform_v1.JobState
DONE = (State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED, State.JOB_STATE_CANCELLED)

PROGRAM = b"""\
import json, os, socket, sys, time
spec = json.loads(os.environ["CLUSTER_SPEC"])
task = spec["task"]
me = f"{task['type']}-{task['index']}"
tf = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
print("ROLE", task["type"], task["index"], "TF", tf.get("type"), tf.get("index"),
      "JOB", os.environ["CLOUD_ML_JOB_ID"], "GREETING", os.environ.get("GREETING"),
      flush=True)
mode = os.environ.get("MODE", "cluster")
if mode == "sleep":
    time.sleep(3600)
if mode == "quick":
    sys.exit(0)
if mode == "fail" and task["type"] == "workerpool1":
    print("worker gives up", flush=True)
    sys.exit(1)
host, port = spec["cluster"]["workerpool0"][0].rsplit(":", 1)
if task["type"] == "workerpool0":
    workers = len(spec["cluster"].get("workerpool1", []))
    server = socket.create_server((host, int(port)))
    heard = 0
    while heard < workers or mode == "fail":
        conn, _ = server.accept()
        print("chief heard", conn.recv(100).decode(), flush=True)
        conn.close()
        heard += 1
    print("chief done", flush=True)
else:
    deadline = time.time() + 120
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=5) as c:
                c.sendall(me.encode())
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    print("reached the chief at", host, port, flush=True)
"""


@pytest.fixture(scope="module")
def replica_image(docker_client, base_image: str) -> Iterator[str]:
    dockerfile = (f"FROM {base_image}\nCOPY replica.py /replica.py\n"
                  'ENTRYPOINT ["python3", "/replica.py"]\n').encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("replica.py", PROGRAM)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = f"caliban-emulator-replica:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag,
                               network_mode="host", rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


def start(state_dir: Path, **faults: Any) -> Emulator:
    runner = RunnerConfig(mode="docker", max_running=4, stop_grace_seconds=2)
    return Emulator(EmulatorConfig(state_dir=state_dir, port=0, runner=runner,
                                   faults=FaultConfig(**faults))).start()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = start(tmp_path / "state")
    yield emu
    emu.stop()


def body(name: str, image: str, *, workers: int = 0, env: dict[str, str] | None = None,
         scheduling: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CustomJob in the SDK's dict form: a chief, and ``workers`` in workerpool1."""
    container = {"image_uri": image,
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    pool = {"machine_spec": {"machine_type": "n1-standard-4"}, "container_spec": container}
    pools = [{**pool, "replica_count": 1}]
    if workers:
        pools.append({**pool, "replica_count": workers})
    job: dict[str, Any] = {"display_name": name, "job_spec": {"worker_pool_specs": pools}}
    if scheduling:
        job["job_spec"]["scheduling"] = scheduling
    return job


def job_id(name: str) -> str:
    return name.rsplit("/", 1)[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read().decode()


def finished(client: Any, name: str) -> aiplatform_v1.CustomJob:
    return wait_for(lambda: (j := client.get_custom_job(name=name, timeout=TIMEOUT)).state
                    in DONE and j, what=f"{name} to finish")


def containers_of(docker_client: Any, emu: Emulator, name: str) -> list[Any]:
    return docker_client.containers.list(all=True, filters={"label": [
        f"{LABEL_INSTANCE}={emu.store.instance}", f"{LABEL_JOB}={job_id(name)}"]})


def test_chief_and_two_workers_reach_each_other_and_succeed(
        emulator: Emulator, replica_image: str, docker_client: Any) -> None:
    client = sdk_client(emulator.endpoint)
    job = client.create_custom_job(parent=PARENT, custom_job=body(
        "cluster", replica_image, workers=2, env={"GREETING": "hi"}), timeout=TIMEOUT)
    done = finished(client, job.name)
    assert done.state == State.JOB_STATE_SUCCEEDED, done.error
    jid = job_id(job.name)
    log = fetch(f"{emulator.endpoint}/logs/{jid}")
    # Every replica learned its role from CLUSTER_SPEC and TF_CONFIG (workerpool0: chief).
    assert f"[workerpool0-0] ROLE workerpool0 0 TF chief 0 JOB {jid} GREETING hi\n" in log
    for i in (0, 1):
        assert f"[workerpool1-{i}] ROLE workerpool1 {i} TF worker {i} JOB {jid} " \
               "GREETING hi\n" in log
        assert f"[workerpool0-0] chief heard workerpool1-{i}\n" in log
        assert f"[workerpool1-{i}] reached the chief at 127.0.0.1" in log
    assert "[workerpool0-0] chief done\n" in log
    # Each replica's own log, without prefixes.
    own = fetch(f"{emulator.endpoint}/logs/{jid}?replica=workerpool1-1")
    assert own.startswith("ROLE workerpool1 1 TF worker 1") and "[" not in own
    assert f"/logs/{jid}?replica=workerpool1-1" in fetch(f"{emulator.endpoint}/ui/jobs/{jid}")
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"{emulator.endpoint}/logs/{jid}?replica=workerpool1-7")
    assert missing.value.code == 404
    assert containers_of(docker_client, emulator, job.name) == []


def test_one_failing_replica_fails_the_job_with_its_log(
        emulator: Emulator, replica_image: str, docker_client: Any) -> None:
    client = sdk_client(emulator.endpoint)
    # The chief would wait forever: the worker's exit decides the job.
    job = client.create_custom_job(parent=PARENT, custom_job=body(
        "one-fails", replica_image, workers=1, env={"MODE": "fail"}), timeout=TIMEOUT)
    done = finished(client, job.name)
    assert done.state == State.JOB_STATE_FAILED
    assert done.error.code == 3
    message = done.error.message
    assert "The replica workerpool1-0 exited with a non-zero status of 1" in message
    assert "worker gives up" in message  # the failed replica's own log
    assert f"/ui/jobs/{job_id(job.name)}" in message
    wait_for(lambda: not containers_of(docker_client, emulator, job.name),
             what="the chief's container to be stopped and removed")


def test_a_job_that_outlives_timeout_fails(emulator: Emulator, replica_image: str,
                                           tmp_path: Path) -> None:
    """Through `caliban cloud --timeout 5s` (the image is given, nothing is built)."""
    project = tmp_path / "proj"
    (project / "trainer").mkdir(parents=True)
    (project / "trainer" / "__init__.py").write_text("")
    (project / "trainer" / "train.py").write_text("")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROJECT_ID", "CALIBAN_BACKEND", "CALIBAN_ENDPOINT")}
    env.update(CALIBAN_HOME=str(tmp_path / "home"), NO_GCE_CHECK="true",
               NO_PROXY="127.0.0.1,localhost")

    def caliban(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", *args], cwd=project,
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r

    caliban("cloud", "--backend", "local", "--endpoint", emulator.endpoint, "--nogpu",
            "--image_tag", replica_image, "--timeout", "5s", "--env", "MODE=sleep",
            "--xgroup", "timeout-test", "trainer.train")

    def ended() -> dict[str, Any] | None:
        (rec,) = json.loads(caliban("status", "--xgroup", "timeout-test", "--backend", "local",
                                    "--endpoint", emulator.endpoint, "--format", "json"
                                    ).stdout)
        return rec if rec["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    rec = wait_for(ended, what="the job to end")
    assert rec["state"] == "FAILED"
    assert "ran longer than its timeout of 5s" in rec["error"]
    assert rec["request"]["jobSpec"]["scheduling"] == {"timeout": "5s"}


def test_spot_preemption_restarts_or_fails_the_job(tmp_path: Path,
                                                   replica_image: str) -> None:
    emu = start(tmp_path / "state", preempt_rate=1.0, seed=1)
    try:
        client = sdk_client(emu.endpoint)
        spot = {"strategy": aiplatform_v1.Scheduling.Strategy.SPOT}
        restarts = client.create_custom_job(parent=PARENT, custom_job=body(
            "spot-restarts", replica_image, env={"MODE": "quick"},
            scheduling={**spot, "restart_job_on_worker_restart": True}), timeout=TIMEOUT)
        fails = client.create_custom_job(parent=PARENT, custom_job=body(
            "spot-fails", replica_image, env={"MODE": "quick"}, scheduling=spot),
            timeout=TIMEOUT)
        on_demand = client.create_custom_job(parent=PARENT, custom_job=body(
            "on-demand", replica_image, env={"MODE": "quick"}), timeout=TIMEOUT)

        done = finished(client, restarts.name)
        assert done.state == State.JOB_STATE_SUCCEEDED, done.error
        log = fetch(f"{emu.endpoint}/logs/{job_id(restarts.name)}")
        assert "[emulator] workerpool0-0 was preempted (Spot VM reclaimed); restarting the " \
               "job (restartJobOnWorkerRestart)\n" in log
        assert log.rstrip().endswith(f"JOB {job_id(restarts.name)} GREETING None")

        done = finished(client, fails.name)
        assert done.state == State.JOB_STATE_FAILED
        assert "workerpool0-0 was preempted" in done.error.message
        assert "--restart_on_worker_restart" in done.error.message

        assert finished(client, on_demand.name).state == State.JOB_STATE_SUCCEEDED
        assert json.loads(fetch(f"{emu.endpoint}/healthz"))["faults"]["preempted"] == 2
    finally:
        emu.stop()

"""A code-only change, until every job of the sweep is submitted: ``--build package`` vs
``--build docker`` (build + push), same run, same project, same emulator.

Each round edits one line of the training code, then submits the same 8-job sweep both
ways (alternating which goes first) through the service layer every front end uses:

* docker: hash the context, build on the local engine (dependency and data layers cached,
  the code layer rebuilt), push to the loopback registry, submit;
* package: hash the same files, write the job's sdist, upload it to a staging bucket (the
  GCS emulator, through google-cloud-storage), submit; the unchanged data package is
  already staged, so it is not uploaded again.

Jobs are recorded by the emulator but not run (``none`` mode): the figure is the
submission path. The issue's goal is a ratio of 0.1 or less.

Needs the engine, registry and base image (scripts/services.sh) and gcp-storage-emulator.

    .venv/bin/python bench/bench_build_modes.py   # writes bench/results/build_modes.md
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig  # noqa: E402
from caliban_jupyter.service.plan import CloudRequest, plan_from_request  # noqa: E402
from caliban_jupyter.service.submission import execute  # noqa: E402

ROUNDS = 5
JOBS = 8
DATA_MB = 30
REGISTRY = "127.0.0.1:5000"
BASE = os.environ.get("CALIBAN_TEST_BASE_IMAGE", "caliban-base:bookworm-py3")
OUT = Path(__file__).parent / "results" / "build_modes.md"


def make_project(root: Path) -> None:
    """The packaging benchmark's project: a 22-file package, a data --dir, requirements."""
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    for i in range(20):
        (root / "trainer" / f"mod{i}.py").write_text(f"VALUE = {i}\n" * 50)
    (root / "trainer" / "train.py").write_text("print('step 0')\n")
    (root / "data").mkdir()
    for i in range(DATA_MB):
        (root / "data" / f"shard{i:03}.bin").write_bytes(os.urandom(1 << 20))
    (root / "requirements.txt").write_text("numpy\n")
    (root / "trainer" / "nonce.txt").write_text(uuid.uuid4().hex)  # fresh hashes every run


def start_gcs() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start",
                             "--host=127.0.0.1", f"--port={port}", "--in-memory", "--quiet",
                             "--default-bucket=bench"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b/bench", timeout=2):
                return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("gcp-storage-emulator did not start") from None
            time.sleep(0.1)


def submit(project: Path, endpoint: str, build: str, counter: list[int]
           ) -> tuple[float, float]:
    """Plan and execute one sweep; seconds from the request to the first job submitted
    (the code is runnable by then) and to every job submitted."""
    from caliban_jupyter.events import JobSubmitted

    counter[0] += 1
    request = CloudRequest(
        module="trainer.train", cwd=str(project), dirs=("data",), nogpu=True,
        backend="local", endpoint=endpoint, build=build, base_image=BASE,
        registry=REGISTRY if build == "docker" else None,
        staging_bucket="gs://bench/stage" if build == "package" else None,
        experiment_config={"seed": list(range(JOBS))}, xgroup=f"bench-{build}-{counter[0]}",
        env={})
    first: list[float] = []

    def progress(event: object) -> None:
        if isinstance(event, JobSubmitted) and not first:
            first.append(time.perf_counter())

    t0 = time.perf_counter()
    records = execute(plan_from_request(request), progress)
    elapsed = time.perf_counter() - t0
    assert len(records) == JOBS and all(r.is_submitted for r in records)
    return first[0] - t0, elapsed


def main() -> None:
    import docker

    client = docker.from_env()
    load = os.getloadavg()[0]
    gcs, gcs_endpoint = start_gcs()
    os.environ["STORAGE_EMULATOR_HOST"] = gcs_endpoint
    with tempfile.TemporaryDirectory(prefix="caliban-bench-") as tmp:
        root = Path(tmp)
        os.environ["CALIBAN_HOME"] = str(root / "home")
        project = root / "project"
        make_project(project)
        emu = Emulator(EmulatorConfig(state_dir=root / "emu", port=0,
                                      runner=RunnerConfig(mode="none"))).start()
        counter = [0]
        times: dict[str, list[float]] = {"docker": [], "package": []}
        firsts: dict[str, list[float]] = {"docker": [], "package": []}
        try:
            submit(project, emu.endpoint, "docker", counter)   # warm caches, registry,
            submit(project, emu.endpoint, "package", counter)  # staged data package
            for i in range(ROUNDS):
                (project / "trainer" / "train.py").write_text(f"print('step {i + 1}')\n")
                order = ("package", "docker") if i % 2 == 0 else ("docker", "package")
                for build in order:
                    until_first, until_all = submit(project, emu.endpoint, build, counter)
                    firsts[build].append(until_first)
                    times[build].append(until_all)
        finally:
            emu.stop()
            gcs.terminate()
            gcs.wait(timeout=10)
            for image in client.images.list(name=f"{REGISTRY}/caliban-project"):
                client.images.remove(image.id, force=True)
    docker_s, package_s = (statistics.median(times[k]) for k in ("docker", "package"))
    docker_f, package_f = (statistics.median(firsts[k]) for k in ("docker", "package"))
    env = f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, engine " \
          f"{client.version()['Version']}, registry {REGISTRY}, GCS emulator (loopback), " \
          f"load average {load:.1f} at the start (the machine is shared)"
    lines = [
        "## Build modes: a code-only change until all jobs are submitted", "",
        f"Median of {ROUNDS} rounds, both modes in the same run on the same project (a "
        f"22-file package, a {DATA_MB} MB --dir of data, requirements.txt), {JOBS}-job sweep "
        f"to the local emulator (jobs recorded, not run); {env}.",
        "docker: context hash, build (code layer only), push, submit. package: the same "
        "files hashed, the job's sdist written and uploaded to the staging bucket (the "
        "data package is already there), submit. Ratio = package / docker (goal: 0.1 or "
        "less).", "",
        "| mode | all jobs submitted (s, median) | rounds (s) | first job submitted (s) |",
        "|---|---:|---|---:|",
        f"| --build docker (build + push) | {docker_s:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in times['docker'])} | {docker_f:.2f} |",
        f"| --build package (sdist + upload) | {package_s:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in times['package'])} | {package_f:.2f} |",
        "", f"Ratio package / docker, all jobs submitted: **{package_s / docker_s:.2f}**; "
        f"until the first job is submitted (the build or upload, without most of the "
        f"submission both modes share): {package_f / docker_f:.2f}.",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

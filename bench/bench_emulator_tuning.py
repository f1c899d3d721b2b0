"""Benchmark the emulator's tuning machinery: trials of a HyperparameterTuningJob against the
same programs submitted as plain CustomJobs (a sweep), on the same emulator.

Each run submits N trials' worth of work both ways, alternately, through the real
``aiplatform_v1.JobServiceClient`` (REST) on one Docker-mode emulator (``max_running`` =
the tuning job's ``parallelTrialCount``): a tuning job (random search, N trials, P in
parallel) and N CustomJobs with the same args, submitted at once. Measured: wall time from
the first request to the last job's end (polled every 0.1 s), so the ratio is the tuning
machinery's overhead (proposing, polling metric files, one trial after another slot frees)
per trial. Reported: medians, trials per hour of emulator time, and the ratio.

Run: ``.venv/bin/python bench/bench_emulator_tuning.py [--trials N] [--parallel P]
[--repeats R]``; writes bench/results/emulator_tuning.md. Needs the Docker engine and the
base image (scripts/services.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "bench" / "results" / "emulator_tuning.md"
IMAGE = os.environ.get("CALIBAN_TEST_BASE_IMAGE", "caliban-base:bookworm-py3-nb")
PROGRAM = """\
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
with open(os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/m"), "a") as f:
    f.write(json.dumps({"loss": str(float(args["lr"]) ** 2)}) + "\\n")
"""


def pool(args: list[str]) -> list[dict]:
    return [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
             "containerSpec": {"imageUri": IMAGE, "command": ["python3", "-c", PROGRAM],
                               "args": args}}]


def run_tuning(client, parent: str, trials: int, parallel: int) -> float:
    from google.cloud import aiplatform_v1

    body = {"displayName": "bench-tune", "maxTrialCount": trials,
            "parallelTrialCount": parallel, "trialJobSpec": {"workerPoolSpecs": pool([])},
            "studySpec": {"algorithm": "RANDOM_SEARCH",
                          "metrics": [{"metricId": "loss", "goal": "MINIMIZE"}],
                          "parameters": [{"parameterId": "lr", "doubleValueSpec": {
                              "minValue": 0.0, "maxValue": 1.0}}]}}
    start = time.perf_counter()
    job = client.create_hyperparameter_tuning_job(
        parent=parent, timeout=30,
        hyperparameter_tuning_job=aiplatform_v1.HyperparameterTuningJob.from_json(
            json.dumps(body)))
    done = (aiplatform_v1.JobState.JOB_STATE_SUCCEEDED, aiplatform_v1.JobState.JOB_STATE_FAILED)
    while (got := client.get_hyperparameter_tuning_job(name=job.name, timeout=30)).state \
            not in done:
        time.sleep(0.1)
    assert got.state == done[0] and len(got.trials) == trials, got.error
    return time.perf_counter() - start


def run_sweep(client, parent: str, trials: int) -> float:
    from google.cloud import aiplatform_v1

    start = time.perf_counter()
    names = []
    for i in range(trials):
        body = {"displayName": f"bench-sweep-{i}",
                "jobSpec": {"workerPoolSpecs": pool([f"--lr={i / trials!r}"])}}
        names.append(client.create_custom_job(
            parent=parent, timeout=30,
            custom_job=aiplatform_v1.CustomJob.from_json(json.dumps(body))).name)
    ended = {aiplatform_v1.JobState.JOB_STATE_SUCCEEDED, aiplatform_v1.JobState.JOB_STATE_FAILED}
    while names:
        jobs = [client.get_custom_job(name=n, timeout=30) for n in names]
        assert not [j for j in jobs if j.state == aiplatform_v1.JobState.JOB_STATE_FAILED], \
            [j.error for j in jobs]
        names = [j.name for j in jobs if j.state not in ended]
        time.sleep(0.1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    from support.emulator import PARENT, remove_containers, sdk_client

    from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig

    tune, sweep = [], []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        config = EmulatorConfig(state_dir=state, port=0, runner=RunnerConfig(
            mode="docker", max_running=opts.parallel, stop_grace_seconds=1))
        try:
            with Emulator(config) as emu:
                client = sdk_client(emu.endpoint)
                run_sweep(client, PARENT, 1)  # warm up: image and page cache
                for _ in range(opts.repeats):
                    sweep.append(run_sweep(client, PARENT, opts.trials))
                    tune.append(run_tuning(client, PARENT, opts.trials, opts.parallel))
        finally:
            remove_containers(state)
    t, s = statistics.median(tune), statistics.median(sweep)
    per_hour = lambda seconds: opts.trials * 3600 / seconds  # noqa: E731
    lines = [
        "# Emulator tuning jobs: trials vs the same jobs as a sweep", "",
        f"{opts.trials} trials, {opts.parallel} at once (max_running {opts.parallel}), each a "
        "container that reports one metric; median of "
        f"{opts.repeats} alternating runs; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores. Generated by `bench/bench_emulator_tuning.py`.", "",
        "| how | wall (s) | trials per hour | × sweep |", "|---|---:|---:|---:|",
        f"| {opts.trials} CustomJobs at once (baseline) | {s:.2f} | {per_hour(s):.0f} | 1.00 |",
        f"| HyperparameterTuningJob | {t:.2f} | {per_hour(t):.0f} | {t / s:.2f} |", "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

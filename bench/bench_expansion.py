"""Benchmark `caliban expansion` on a 20,000-job sweep.

Whole-process timings (median of several runs, stdout to /dev/null) are reported as
ratios against `python -c pass` with the same interpreter, measured in the same run, so
the figures carry over between machines. In-process expansion is compared with two
references measured alongside: the raw ``itertools.product`` tuples it is built on (a
lower bound), and a naive expander that deep-copies a template dict per job.

Run: ``.venv/bin/python bench/bench_expansion.py [--runs N]``; writes
bench/results/expansion.md.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from caliban_jupyter.spec.experiments import expand_experiment_config, experiment_to_args

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "expansion.md"

# 20 x 10 x 10 (compound) x 10 = 20,000 jobs, with a scalar and a boolean riding along.
CONFIG = {
    "learning_rate": [round(10 ** (-i / 4), 6) for i in range(20)],
    "batch_size": [16 * (i + 1) for i in range(10)],
    "[depth,width]": [[d, 32 * d] for d in range(1, 11)],
    "seed": list(range(10)),
    "dataset": "imagenet",
    "verbose": True,
}
JOBS = 20 * 10 * 10 * 10


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(cmd: list[str]) -> Callable[[], None]:
    def go() -> None:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)

    return go


def naive_expand(config: dict) -> list[dict]:
    """Reference: copy a template per job and overwrite the swept keys."""
    keys = list(config)
    axes = [v if isinstance(v, list) else [v] for v in config.values()]
    out = []
    for combo in itertools.product(*axes):
        job = copy.deepcopy(config)
        for k, v in zip(keys, combo, strict=True):
            if k.startswith("["):
                del job[k]
                job.update(zip(k[1:-1].split(","), v, strict=True))
            else:
                job[k] = v
        out.append(job)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per measurement (median)")
    args = parser.parse_args()
    runs = args.runs
    caliban = Path(sys.executable).with_name("caliban")
    if not caliban.exists():
        print(f"console script {caliban} not found: pip install -e . first", file=sys.stderr)
        return 1

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "sweep.json"
        cfg.write_text(json.dumps(CONFIG, indent=1))
        one = Path(tmp) / "one.json"
        one.write_text("{}")
        assert len(expand_experiment_config(CONFIG)) == JOBS

        # Warm the OS file cache and .pyc files before measuring.
        run_process([str(caliban), "expansion", str(cfg)])()

        base = median_seconds(run_process([sys.executable, "-c", "pass"]), runs)
        rows.append(("`python -c pass` (baseline)", base, "1.00"))
        for label, cmd in [
            ("`caliban expansion` 1 job", [str(caliban), "expansion", str(one)]),
            (f"`caliban expansion` {JOBS:,} jobs (JSON)", [str(caliban), "expansion", str(cfg)]),
            (
                f"`caliban expansion --print_flags` {JOBS:,} jobs",
                [str(caliban), "expansion", "--print_flags", str(cfg)],
            ),
        ]:
            t = median_seconds(run_process(cmd), runs)
            rows.append((label, t, f"{t / base:.2f}"))

    product = median_seconds(
        lambda: list(itertools.product(*[v if isinstance(v, list) else [v]
                                         for v in CONFIG.values()])),
        runs,
    )
    expand = median_seconds(lambda: expand_experiment_config(CONFIG), runs)
    to_args = median_seconds(
        lambda: [experiment_to_args(e) for e in expand_experiment_config(CONFIG)], runs
    )
    naive = median_seconds(lambda: naive_expand(CONFIG), max(3, runs // 3))
    inproc = [
        ("raw `itertools.product` tuples (lower bound)", product, "1.00"),
        ("`expand_experiment_config`", expand, f"{expand / product:.2f}"),
        ("expand + `experiment_to_args` per job", to_args, f"{to_args / product:.2f}"),
        ("naive: `deepcopy` template per job", naive, f"{naive / product:.2f}"),
    ]

    lines = [
        "## Experiment expansion",
        "",
        f"{JOBS:,}-job sweep (4 swept axes incl. one compound key, plus a scalar and a flag).",
        f"Median of {runs} runs; Python {platform.python_version()}, {platform.machine()}, "
        f"{platform.system()}. Generated by `bench/bench_expansion.py`.",
        "",
        "Whole process (stdout to /dev/null):",
        "",
        "| command | median (ms) | × `python -c pass` |",
        "|---|---:|---:|",
        *[f"| {name} | {t * 1000:.1f} | {ratio} |" for name, t, ratio in rows],
        "",
        "In process:",
        "",
        "| operation | median (ms) | × raw product |",
        "|---|---:|---:|",
        *[f"| {name} | {t * 1000:.1f} | {ratio} |" for name, t, ratio in inproc],
        "",
        f"Speed-up of `expand_experiment_config` over the naive expander: "
        f"{naive / expand:.1f}×.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Startup of `caliban --help` and of a 100-job `caliban cloud --dry_run`.

Both paths must stay light: they must not import google-cloud-aiplatform or docker. Each is
timed as a whole process (median of N runs) against `python -c pass` measured in the same
run, and checked for the forbidden imports with `-X importtime`.

    .venv/bin/python bench/bench_cli.py          # writes bench/results/cli.md
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
OUT = Path(__file__).parent / "results" / "cli.md"


def timed(cmd: list[str], cwd: str) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def heavy_imports(cmd: list[str], cwd: str) -> list[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], cwd=cwd,
                       capture_output=True, text=True, check=True)
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    return sorted(m for m in mods if m.split(".")[0] in ("docker", "google"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "trainer").mkdir()
        (Path(tmp) / "trainer" / "train.py").write_text("print('hi')\n")
        (Path(tmp) / "exp.json").write_text(json.dumps({"lr": list(range(10)),
                                                        "seed": list(range(10))}))
        py = sys.executable
        cli = [py, "-m", "caliban_jupyter.cli"]
        cases = {
            "python -c pass (baseline)": [py, "-c", "pass"],
            "caliban --help": [*cli, "--help"],
            "caliban cloud --dry_run, 100 jobs (text)": [
                *cli, "cloud", "--dry_run", "--backend", "local", "--nogpu",
                "--experiment_config", "exp.json", "trainer.train"],
            "caliban cloud --dry_run, 100 jobs (json)": [
                *cli, "cloud", "--dry_run", "--format", "json", "--project_id", "p",
                "--gpu_spec", "2xV100", "--experiment_config", "exp.json", "trainer.train"],
        }
        env_note = f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
        base = None
        rows = []
        for name, cmd in cases.items():
            t = timed(cmd, tmp)
            base = base or t
            heavy = heavy_imports(cmd, tmp) if name != "python -c pass (baseline)" else []
            rows.append((name, t, t / base, heavy))
    lines = ["## CLI startup", "",
             f"Median of {RUNS} whole-process runs; {env_note}. Target: each well under 0.3 s.",
             "", "| command | ms | × baseline | docker/google imported |", "|---|---:|---:|---|"]
    for name, t, ratio, heavy in rows:
        lines.append(f"| {name} | {t * 1000:.0f} | {ratio:.2f} | "
                     f"{', '.join(heavy[:3]) + ('…' if len(heavy) > 3 else '') or 'none'} |")
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

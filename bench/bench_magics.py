"""Benchmark the notebook front end; writes bench/results/magics.md.

1. ``%load_ext caliban_jupyter`` in a fresh process, against bare IPython start-up (the
   time to create an InteractiveShell) measured in the same run.
2. Time from running a ``%%caliban_cloud`` cell to all jobs submitted (image cache warm),
   against submitting the same program with the CLI (``caliban cloud script.py``) from a
   script, same run, same emulator.

Needs scripts/services.sh (Docker engine, base image). Run: .venv/bin/python bench/bench_magics.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

SHELL = ("from IPython.core.interactiveshell import InteractiveShell; "
         "ip = InteractiveShell.instance()")
LOAD_EXT = """
import time, sys
t0 = time.perf_counter()
{shell}
t1 = time.perf_counter()
{load}
t2 = time.perf_counter()
heavy = [m for m in sys.modules
         if m.startswith(("docker", "google.cloud.aiplatform", "google.auth", "ipywidgets"))]
print(t1 - t0, t2 - t1, len(heavy))
"""

PROGRAM = "import math\nprint('RESULT', math.sqrt(lr))\n"


def _py(code: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, env=env).stdout


def bench_load_ext(env: dict[str, str]) -> dict[str, float]:
    bare, ext, heavy = [], [], 0
    for _ in range(RUNS):
        out = _py(LOAD_EXT.format(shell=SHELL, load="pass"), env).split()
        bare.append(float(out[0]))
        out = _py(LOAD_EXT.format(shell=SHELL,
                                  load="ip.run_line_magic('load_ext', 'caliban_jupyter')"),
                  env).split()
        ext.append(float(out[1]))
        heavy = max(heavy, int(out[2]))
    return {"ipython_start": statistics.median(bare), "load_ext": statistics.median(ext),
            "heavy_modules": heavy}


def bench_submit(env: dict[str, str], work: Path) -> dict[str, float]:
    os.environ.update(env)
    os.chdir(work)
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "caliban_jupyter")
    ip.run_line_magic("config", 'Caliban.backend = "local"')
    ip.run_cell("exp = {'lr': [1, 4]}", store_history=True)
    cell = "%%caliban_cloud --nogpu --experiment_config exp\n" + PROGRAM

    def magic() -> float:
        t = time.perf_counter()
        r = ip.run_cell(cell, store_history=True)
        elapsed = time.perf_counter() - t
        assert r.success and len(r.result) == 2, r.error_in_exec
        return elapsed

    first = magic()  # builds the image and imports the SDK: not measured below
    warm = [magic() for _ in range(RUNS)]

    (work / "script.py").write_text("import argparse, math\np = argparse.ArgumentParser()\n"
                                    "p.add_argument('--lr', type=float)\n"
                                    "print('RESULT', math.sqrt(p.parse_args().lr))\n")
    (work / "exp.json").write_text('{"lr": [1, 4]}')
    cmd = [str(REPO / ".venv/bin/caliban"), "cloud", "--backend", "local", "--nogpu",
           "--experiment_config", "exp.json", "script.py"]

    def cli() -> float:
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **env})
        return time.perf_counter() - t

    cli()  # warm the CLI's image
    clis = [cli() for _ in range(RUNS)]
    return {"magic_first": first, "magic_warm": statistics.median(warm),
            "cli_warm": statistics.median(clis)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="caliban-bench-"))
    env = {**os.environ, "CALIBAN_HOME": str(work / "home"),
           "CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE",
                                                "caliban-base:bookworm-py3-nb"),
           "NO_GCE_CHECK": "true", "NO_PROXY": "127.0.0.1,localhost"}
    (work / "run").mkdir()
    load = bench_load_ext(env)
    submit = bench_submit(env, work / "run")
    subprocess.run([str(REPO / ".venv/bin/caliban"), "emulator", "stop"], env=env,
                   capture_output=True)
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    report = f"""# Notebook front end benchmark

Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. Medians of {RUNS} runs,
measured by `bench/bench_magics.py` in one run.

## `%load_ext caliban_jupyter` (fresh process each run)

| what | time |
|---|---|
| bare IPython start-up (create InteractiveShell) | {ms(load['ipython_start'])} |
| `%load_ext caliban_jupyter` on top of it | {ms(load['load_ext'])} |
| ratio load_ext / IPython start-up | {load['load_ext'] / load['ipython_start']:.2f} |
| heavy modules imported (docker, aiplatform, google.auth, ipywidgets) | {load['heavy_modules']} |

## Cell to all jobs submitted (2 jobs, local backend, image cache warm)

| what | time |
|---|---|
| `%%caliban_cloud` cell, first in the kernel (imports the SDK) | {ms(submit['magic_first'])} |
| `%%caliban_cloud` cell, warm kernel | {ms(submit['magic_warm'])} |
| `caliban cloud script.py` from a shell (new process each time) | {ms(submit['cli_warm'])} |
| ratio warm cell / CLI | {submit['magic_warm'] / submit['cli_warm']:.2f} |
"""
    out = REPO / "bench/results/magics.md"
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()

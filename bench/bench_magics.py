"""Benchmark the notebook front end; writes bench/results/magics.md.

1. ``%load_ext caliban_jupyter`` in a fresh process, against bare IPython start-up (the
   time to create an InteractiveShell) measured in the same run.
2. Time from running a ``%%caliban_cloud`` cell to all jobs submitted (image cache warm),
   against submitting the same program with the CLI (``caliban cloud script.py``) from a
   script, same run, same emulator.
3. The warm cell against its floor, in the same kernel against the same emulator: the two
   create calls the cell ends in, made directly with the SDK's ``JobServiceClient`` (REST)
   with the very bodies the cell sent. The old tree (``OLD_TREE``, default /work/main) and
   this one are measured in the same run (``PYTHONPATH``), each with a profile of one warm
   cell split into where its time goes.

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


OLD_TREE = Path(os.environ.get("OLD_TREE", "/work/main"))
#: Where a warm cell's time goes: (label, functions whose cumulative time it is).
PARTS = (
    ("capture: cell -> program, pinned requirements", (("notebook/api.py", "cell_request"),)),
    ("plan: settings, validation, job specs", (("service/plan.py", "plan_from_request"),)),
    ("history: open, claim the group's name, close", (
        ("caliban_jupyter/history.py", "__init__"), ("caliban_jupyter/history.py", "close"),
        ("service/group_names.py", "in_claimed_group"))),
    ("job service reachable: one listing before the build", (
        ("service/submission.py", "<preflight>"),)),
    ("image: content hash of the context, image check", (
        ("packaging/docker.py", "ensure_image"),)),
    ("submission: the two creates, records, one verifying listing", (
        ("service/submit.py", "submit_sweep"),)),
)

FLOOR_AND_PROFILE = """
import cProfile, json, os, pstats, statistics, sys, time
from pathlib import Path
runs, work = int(sys.argv[1]), Path(sys.argv[2])
os.chdir(work)
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "caliban_jupyter")
ip.run_line_magic("config", 'Caliban.backend = "local"')
ip.run_cell("exp = {'lr': [1, 4]}", store_history=True)
cell = "%%caliban_cloud --nogpu --experiment_config exp\\n" + PROGRAM
def magic():
    t = time.perf_counter()
    r = ip.run_cell(cell, store_history=True)
    elapsed = time.perf_counter() - t
    assert r.success and len(r.result) == 2, r.error_in_exec
    return elapsed, r.result
magic()  # builds the image, starts the emulator, imports the SDK
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.protobuf import json_format
from caliban_jupyter.emulator.control import read_record
endpoint = read_record(Path(os.environ["CALIBAN_HOME"]))["endpoint"]
client = aiplatform_v1.JobServiceClient(credentials=AnonymousCredentials(), transport="rest",
                                        client_options=ClientOptions(api_endpoint=endpoint))
parent = "projects/local/locations/us-central1"
cells, floors = [], []
for i in range(runs):
    elapsed, sweep = magic()
    cells.append(elapsed)
    bodies = []
    for record in sweep.records:  # the very bodies the cell sent, under fresh names
        body = json.loads(json.dumps(dict(record.request)))
        body["displayName"] += f"-floor{i}"
        job = aiplatform_v1.CustomJob()
        json_format.ParseDict(body, aiplatform_v1.CustomJob.pb(job))
        bodies.append(job)
    t = time.perf_counter()
    for job in bodies:
        client.create_custom_job(parent=parent, custom_job=job, timeout=30, retry=None)
    floors.append(time.perf_counter() - t)
def profiled(i):
    profile = cProfile.Profile()
    t = time.perf_counter()
    profile.enable()
    magic()
    profile.disable()
    total = time.perf_counter() - t
    profile.dump_stats(str(work / f"warm-cell-{i}.prof"))
    stats = pstats.Stats(profile).stats
    def cum(path, name):
        return sum(v[3] for (f, _, n), v in stats.items() if f.endswith(path) and n == name)
    parts = {}
    for label, where in PARTS:
        if where[0][1] == "<preflight>":
            # execute()'s own listing: every listing but the verifying one in submit_sweep
            parts[label] = cum("backends/vertex.py", "_list") - cum("service/submit.py", "_verify")
        else:
            parts[label] = sum(cum(p, n) for p, n in where)
    magic_total = cum("notebook/magics.py", "caliban_cloud")
    parts["other: progress bars, the Sweep, argument parsing"] = max(
        0.0, magic_total - sum(parts.values()))
    parts["display: IPython shows the Sweep (text and HTML)"] = total - magic_total
    return total, parts
runs_profiled = [profiled(i) for i in range(runs)]
total = statistics.median(t for t, _ in runs_profiled)
parts = {k: statistics.median(p[k] for _, p in runs_profiled) for k in runs_profiled[0][1]}
print(json.dumps({"cell": statistics.median(cells), "floor": statistics.median(floors),
                  "profiled": total, "parts": parts}))
from caliban_jupyter.emulator import control
control.stop(Path(os.environ["CALIBAN_HOME"]))
"""


def bench_floor(env: dict[str, str]) -> dict[str, dict]:
    """Warm cell and floor, old and new tree, each in its own kernel, home and emulator."""
    import json

    out = {}
    code = (f"PROGRAM = {PROGRAM!r}\nPARTS = {PARTS!r}\n" + FLOOR_AND_PROFILE)
    for name, tree in (("old", OLD_TREE), ("new", REPO)):
        work = Path(tempfile.mkdtemp(prefix=f"caliban-bench-floor-{name}-"))
        tree_env = {**env, "PYTHONPATH": str(tree), "CALIBAN_HOME": str(work / "home")}
        r = subprocess.run([sys.executable, "-c", code, str(RUNS), str(work)], env=tree_env,
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{name} tree: {r.stderr[-3000:]}")
        out[name] = {**json.loads(r.stdout.strip().splitlines()[-1]), "work": str(work)}
    return out


def floor_report(floor: dict[str, dict]) -> str:
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    lines = ["", "## Warm cell against its floor (2 jobs, local backend, image cached)", "",
             "Floor: the two create calls the cell ends in, made directly with the SDK's "
             "`JobServiceClient` (REST) in the same kernel against the same emulator, with the "
             f"bodies the cell sent. Medians of {RUNS}, alternating cell and floor; old tree "
             f"({OLD_TREE}) and this tree in the same run.", "",
             "| tree | warm cell | floor | × floor |", "|---|---:|---:|---:|"]
    for name in ("old", "new"):
        f = floor[name]
        lines.append(f"| {name} | {ms(f['cell'])} | {ms(f['floor'])} | "
                     f"**{f['cell'] / f['floor']:.1f}×** |")
    lines += ["", f"Where a warm cell's time goes (cProfile of {RUNS} more cells, the median of "
              "each part's cumulative time; the profiler slows what it measures, so the parts "
              "are shares, not timings):", "",
              "| part | old tree | new tree |", "|---|---:|---:|"]
    for label in floor["new"]["parts"]:
        cells = []
        for name in ("old", "new"):
            f = floor[name]
            v = f["parts"].get(label, 0.0)
            cells.append(f"{ms(v)} ({v / f['profiled']:.0%})")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines.append(f"| whole cell, profiled (median) | {ms(floor['old']['profiled'])} | "
                 f"{ms(floor['new']['profiled'])} |")
    lines += ["", "The old tree spent most of a warm cell in `pinned_requirements` (capture): "
              "`importlib.metadata.packages_distributions()` read the metadata of every "
              "installed distribution on every cell, even for a cell importing only the "
              "standard library. It is now read once per state of the environment "
              "(capture/distributions.py: kept with the modification times of the `sys.path` "
              "directories, which any install, upgrade or removal changes, so it is never "
              "stale). The content hash of the build context is still computed on every cell. "
              "What remains is one listing (the job service is reachable before anything is "
              "built), the Docker engine's client and image check, the history's transactions "
              "and the two creates with their verifying listing."]
    return "\n".join(lines) + "\n"


LOAD = os.getloadavg()[0]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="caliban-bench-"))
    env = {**os.environ, "CALIBAN_HOME": str(work / "home"),
           "CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE",
                                                "caliban-base:bookworm-py3-nb"),
           "NO_GCE_CHECK": "true", "NO_PROXY": "127.0.0.1,localhost"}
    (work / "run").mkdir()
    load = bench_load_ext(env)
    submit = bench_submit(env, work / "run")
    floor = bench_floor(env)
    subprocess.run([str(REPO / ".venv/bin/caliban"), "emulator", "stop"], env=env,
                   capture_output=True)
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    report = f"""# Notebook front end benchmark

Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average {LOAD:.1f} at the
start (the machine is shared). Medians of {RUNS} runs, measured by `bench/bench_magics.py`
in one run.

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
    report += floor_report(floor)
    out = REPO / "bench/results/magics.md"
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()

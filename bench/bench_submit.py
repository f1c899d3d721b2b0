"""Submitting 1,000 jobs to the local emulator, concurrently vs one at a time, and
`caliban status` / the live job table on a 1,000-job group, each against its floor.

Submission: one at a time (1 worker) and concurrently (the default number of workers of
``submit_sweep``) against the same emulator (jobs are not executed: ``--no-run``), with no
added latency and with ``--latency-ms 25`` standing in for the round trip to a remote API;
the old tree (``OLD_TREE``, default /work/main) is measured in the same run, with its own
default, through ``PYTHONPATH``. Where the client's time goes is sampled from every thread.

Status: the floor is the same two list calls made directly with the SDK's
``JobServiceClient`` (REST): in a fresh process (interpreter start, the SDK's import, the
calls) for ``caliban status``, and in a warm process for the live table's refresh. Wall time
and CPU time are both given: on a shared machine the CPU time is the steadier figure.

    .venv/bin/python bench/bench_submit.py          # writes bench/results/submit.md
"""

from __future__ import annotations

import collections
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

HERE = Path(__file__).resolve().parent
NEW_TREE = HERE.parent
OLD_TREE = Path(os.environ.get("OLD_TREE", "/work/main"))
OUT = HERE / "results" / "submit.md"
JOBS = int(os.environ.get("BENCH_JOBS", "1000"))
LATENCY_MS = 25
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PARENT = "projects/local/locations/us-central1"

#: Two list calls with the SDK and nothing else: the floor of `caliban status`.
FLOOR = """
import sys
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
endpoint, xgroup = sys.argv[1], sys.argv[2]
client = aiplatform_v1.JobServiceClient(credentials=AnonymousCredentials(), transport="rest",
                                        client_options=ClientOptions(api_endpoint=endpoint))
request = aiplatform_v1.ListCustomJobsRequest(
    parent="projects/local/locations/us-central1", filter=f'labels.xgroup="{xgroup}"',
    page_size=500)
print(sum(len(p.custom_jobs) for p in client.list_custom_jobs(request=request, timeout=30).pages))
"""


def sweep(xgroup: str, n: int) -> list[Any]:
    from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

    return [JobSpec(display_name=f"{xgroup}_{i}", index=i, region="us-central1",
                    image_uri="127.0.0.1:5000/bench:1", args=("--i", str(i)),
                    labels={"xgroup": xgroup, "job_name": "bench"},
                    machine=MachineSpec("n1-standard-4"), experiment={"i": i})
            for i in range(1, n + 1)]


def tree_env(tree: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), **extra}


def probe(tree: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this file's ``--probe`` mode with ``tree`` first on the path; its JSON answer."""
    out = subprocess.run([sys.executable, __file__, "--probe", *args],
                         env=env or tree_env(tree), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"probe {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples every thread's stack every ``interval`` s; counts what each was doing."""

    WAITING = "waiting for the service"
    #: A thread whose innermost Python frame is one of these is waiting (the C call below
    #: it holds no GIL): on a socket, a lock, a queue of work.
    IDLE = ("readinto", "wait", "_worker", "_wait_for_tstate_lock", "select", "sleep")
    #: (label, functions): the first whose function is on the stack names a busy sample.
    KINDS = (
        ("history write (SQLite, record JSON)", ("put_jobs", "put_job")),
        ("job record from the response (record_from_custom_job)", ("record_from_custom_job",)),
        ("response proto -> dict (json_format.MessageToDict)", ("_to_dict",)),
        ("SDK: request proto -> JSON (json_format.MessageToJson)", ("MessageToJson",)),
        ("SDK: response JSON -> proto (json_format.Parse)", ("Parse",)),
        ("SDK: HTTP (requests, urllib3, http.client)", ("send", "urlopen", "getresponse")),
        ("SDK: the rest of a call (options, headers, retry wrappers)", ("create_custom_job",)),
        ("body dict -> proto (json_format.ParseDict)", ("ParseDict",)),
        ("request bodies and labels (prepare_specs)", ("prepare_specs", "record_for_spec")),
    )

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.counts: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self.counts[self._kind(frame)] += 1

    def _kind(self, frame: Any) -> str:
        if frame.f_code.co_name in self.IDLE:
            return self.WAITING
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        for label, marks in self.KINDS:
            if names.intersection(marks):
                return label
        return "other (the submitting loop, threads, HTTP)"

    def summary(self) -> list[tuple[str, float]]:
        busy = {k: v for k, v in self.counts.items() if k != self.WAITING}
        total = sum(busy.values()) or 1
        return sorted(((k, v / total) for k, v in busy.items()), key=lambda kv: -kv[1])


# ----------------------------------------------------------------------- probe modes


def probe_submit(endpoint: str, home: str, xgroup: str, workers: str, sample: str) -> dict:
    """Submit the sweep with the tree on the path; time, CPU, calls, (thread samples)."""
    import inspect

    from caliban_jupyter.backends.local import LocalBackend
    from caliban_jupyter.history import History
    from caliban_jupyter.service.submit import submit_sweep

    n = int(workers) or inspect.signature(submit_sweep).parameters["max_workers"].default
    backend = LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    next(iter(backend.list_group("warm-up")), None)  # the SDK's import is not timed
    backend.calls.clear()
    specs = sweep(xgroup, JOBS)
    with History(Path(home) / "history.sqlite") as history:
        sampler = Sampler() if sample == "1" else None
        c0, t0 = time.process_time(), time.perf_counter()
        if sampler:
            with sampler:
                records = submit_sweep(specs, backend, history, xgroup=xgroup, max_workers=n)
        else:
            records = submit_sweep(specs, backend, history, xgroup=xgroup, max_workers=n)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(records) == JOBS and all(r.is_submitted for r in records)
        assert len({r.resource_name for r in records}) == JOBS
    return {"workers": n, "time": elapsed, "cpu": cpu, "calls": dict(backend.calls),
            "profile": sampler.summary() if sampler else []}


def probe_table(endpoint: str, home: str, xgroup: str) -> dict:
    """The live table's refresh against the same two list calls made with the SDK."""
    from google.cloud import aiplatform_v1

    from caliban_jupyter.backends.local import LocalBackend
    from caliban_jupyter.history import History
    from caliban_jupyter.service.groups import JobGroup
    from caliban_jupyter.widgets._measure import recording_comms
    from caliban_jupyter.widgets.table import JobTable

    backend = LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    request = aiplatform_v1.ListCustomJobsRequest(
        parent=PARENT, filter=f'labels.xgroup="{xgroup}"', page_size=500)

    def floor() -> int:
        pages = backend.client.list_custom_jobs(request=request, timeout=30).pages
        return sum(len(p.custom_jobs) for p in pages)

    with History(Path(home) / "history.sqlite") as history, recording_comms():
        table = JobTable(JobGroup(xgroup, backend=backend, history=history),
                         autostart=False)
        table.refresh()  # the first display (every row drawn) is not the steady state
        floors, refreshes = [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            assert floor() == JOBS
            floors.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            table.refresh()
            refreshes.append(time.perf_counter() - t0)
        assert len(table.records) == JOBS
        table.close()
    return {"floor": min(floors), "refresh": min(refreshes)}


# ------------------------------------------------------------------------ the report


def timed_process(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (of the process and its children) of one run; its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def bench_submission(tmp: Path) -> tuple[list[str], dict[str, list[tuple[str, float]]]]:
    from caliban_jupyter.emulator import control

    rows: list[str] = []
    profile: dict[str, list[tuple[str, float]]] = {}
    for latency in (0, LATENCY_MS):
        home = tmp / f"emu{latency}"
        options = ["--port", "0", "--no-run"] + (["--latency-ms", str(latency)] if latency
                                                 else [])
        record = control.start(home, options)
        endpoint, pid = str(record["endpoint"]), int(record["pid"])
        try:
            runs = {}
            for label, tree, workers, sample in (
                    ("one at a time (new tree)", NEW_TREE, "1", "0"),
                    ("concurrent, old tree (its default workers)", OLD_TREE, "0",
                     "1" if latency else "0"),
                    ("concurrent, new tree (its default workers)", NEW_TREE, "0",
                     "1" if latency else "0")):
                xgroup = f"l{latency}-{len(runs)}"
                e0 = cpu_of(pid)
                result = probe(tree, "submit", endpoint, str(tmp), xgroup, workers, sample)
                result["emulator_cpu"] = cpu_of(pid) - e0
                runs[label] = result
                if result["profile"]:
                    profile["old" if tree == OLD_TREE else "new"] = result["profile"]
        finally:
            control.stop(home)
        base = runs["one at a time (new tree)"]["time"]
        for label, r in runs.items():
            rows.append(
                f"| {latency} ms | {label} | {r['workers']} | {r['time']:.2f} s "
                f"({JOBS / r['time']:.0f} jobs/s) | **{base / r['time']:.1f}×** | "
                f"{r['cpu'] / JOBS * 1000:.2f} ms | {r['emulator_cpu'] / JOBS * 1000:.2f} ms | "
                f"{r['calls'].get('create', 0)} create, {r['calls'].get('list', 0)} list |")
    return rows, profile


def bench_status(tmp: Path) -> list[str]:
    from caliban_jupyter.emulator import control

    home = tmp / "emu-status"
    endpoint = str(control.start(home, ["--port", "0", "--no-run"])["endpoint"])
    rows = []
    try:
        probe(NEW_TREE, "submit", endpoint, str(tmp), "st", "0", "0")
        floor_argv = [sys.executable, "-c", FLOOR, endpoint, "st"]
        status_argv = [sys.executable, "-m", "caliban_jupyter.cli", "status", "--xgroup",
                       "st", "--backend", "local", "--endpoint", endpoint]
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "`python -c pass`": ([sys.executable, "-c", "pass"], tree_env(NEW_TREE)),
            "floor: the two list calls with the SDK, in a new process": (
                floor_argv, tree_env(NEW_TREE)),
        }
        for name, tree in (("old", OLD_TREE), ("new", NEW_TREE)):
            env = tree_env(tree, CALIBAN_HOME=str(tmp / f"status-home-{name}"))
            # The first call rebuilds the group from its labels (history written); later
            # ones find it recorded (the usual case).
            wall, cpu, out = timed_process(status_argv, env)
            assert out.count("st_") >= JOBS
            rows.append((f"`caliban status --xgroup st`, no history yet, {name} tree",
                         wall, cpu))
            cases[f"`caliban status --xgroup st`, {name} tree"] = (status_argv, env)
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
        for _ in range(RUNS):  # alternating, so load changes hit every case alike
            for name, (argv, env) in cases.items():
                samples[name].append(timed_process(argv, env)[:2])
        best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in samples.items()}
        floor = best["floor: the two list calls with the SDK, in a new process"]
        lines = [f"| what | wall (best of {RUNS}) | × floor | CPU | × floor |",
                 "|---|---:|---:|---:|---:|"]
        for name, (wall, cpu) in [*best.items(), *[(n, (w, c)) for n, w, c in rows]]:
            lines.append(f"| {name} | {wall * 1000:.0f} ms | {wall / floor[0]:.2f} | "
                         f"{cpu * 1000:.0f} ms | {cpu / floor[1]:.2f} |")
        lines += ["", "Where a `caliban status --xgroup st` process's time goes (cProfile, "
                  "cumulative; history present):", "",
                  "| part | old tree | new tree |", "|---|---:|---:|"]
        profiles = {name: status_profile(tree, status_argv, tmp, name)
                    for name, tree in (("old", OLD_TREE), ("new", NEW_TREE))}
        for label in profiles["new"]:
            lines.append(f"| {label} | {profiles['old'][label] * 1000:.0f} ms | "
                         f"{profiles['new'][label] * 1000:.0f} ms |")
        table_rows = ["", "The live table (`JobTable.refresh()`, jobs unchanged: the steady "
                      "state while a sweep runs) in a warm kernel, against the same two list "
                      "calls made with the SDK's client in the same process (best of "
                      f"{RUNS}):", "",
                      "| tree | two list calls (SDK) | table refresh | × floor |",
                      "|---|---:|---:|---:|"]
        for name, tree in (("old", OLD_TREE), ("new", NEW_TREE)):
            t = probe(tree, "table", endpoint, str(tmp / f"table-{name}"), "st")
            table_rows.append(f"| {name} | {t['floor'] * 1000:.0f} ms | "
                              f"{t['refresh'] * 1000:.0f} ms | {t['refresh'] / t['floor']:.2f} |")
        return lines + table_rows
    finally:
        control.stop(home)


def status_profile(tree: Path, argv: list[str], tmp: Path, name: str) -> dict[str, float]:
    """One ``caliban status`` under cProfile, split into the parts its time goes to."""
    import pstats

    out = tmp / f"status-{name}.prof"
    env = tree_env(tree, CALIBAN_HOME=str(tmp / f"status-home-{name}"))
    subprocess.run([argv[0], "-m", "cProfile", "-o", str(out), *argv[1:]], env=env,
                   capture_output=True, check=True)
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]

    def cum(path: str, fn: str) -> float:
        return sum(v[3] for (f, _, n), v in stats.items() if f.endswith(path) and n == fn)

    total = max(v[3] for v in stats.values())
    parts = {
        "import of the SDK (google.cloud.aiplatform_v1)":
            cum("aiplatform_v1/__init__.py", "<module>"),
        "the two list calls in the SDK (HTTP, JSON -> proto)":
            cum("job_service/client.py", "list_custom_jobs"),
        "proto -> dict (json_format.MessageToDict)": cum("backends/vertex.py", "_to_dict"),
        "records from the listing (record_from_custom_job)":
            cum("caliban_jupyter/records.py", "record_from_custom_job"),
        "history: open, read the group, write what changed, close": sum(
            cum("caliban_jupyter/history.py", fn)
            for fn in ("__init__", "jobs", "put_jobs", "close", "add_group")),
        "text table": cum("caliban_jupyter/tables.py", "render_table"),
    }
    parts["everything else (interpreter, other imports, argument parsing)"] = \
        total - sum(parts.values())
    parts["whole process, profiled"] = total
    return parts


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        what, args = sys.argv[2], sys.argv[3:]
        if what == "table":
            Path(args[1]).mkdir(parents=True, exist_ok=True)
        result = {"submit": probe_submit, "table": probe_table}[what](*args)
        print(json.dumps(result))
        return 0
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        sub_rows, profile = bench_submission(Path(tmp))
        status_rows = bench_status(Path(tmp))
    lines = [
        "# Submission benchmark",
        "",
        f"`bench/bench_submit.py`: {JOBS} jobs to the local emulator (`--no-run`), through the",
        "real SDK (REST transport), recorded in a fresh SQLite history; same run, same",
        "emulator, old tree (`OLD_TREE`) and new tree through `PYTHONPATH`. Speed-up = one at",
        "a time / this row. CPU per job: the submitting process's, and the emulator's.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load[0]:.1f} at the start (the machine "
        "is shared).",
        "",
        "| latency added | how | workers | all submitted | speed-up | client CPU / job | "
        "emulator CPU / job | calls |",
        "|---|---|---:|---|---:|---:|---:|---|",
        *sub_rows,
        "",
        "Every run checks exactly-once: each of the jobs submitted once, one listing of the "
        "group after the sweep (the fault tests, tests/integration/test_faults.py and "
        "test_concurrent_submit.py, check it under injected faults and racing processes). "
        "More create calls than jobs are creates retried after a failure that may have "
        "created the job: "
        "each retry first looks the job up by its submission id (a list call), so none "
        "is created twice.",
        "",
        f"Where the submitting process's busy threads were, at {LATENCY_MS} ms, concurrent "
        "(sampled every 2 ms across threads; waiting on the service left out):",
        "",
        "| what | old tree | new tree |",
        "|---|---:|---:|",
        *[f"| {k} | {dict(profile.get('old', [])).get(k, 0):.0%} | "
          f"{dict(profile.get('new', [])).get(k, 0):.0%} |"
          for k in dict.fromkeys(k for t in ("new", "old") for k, _ in profile.get(t, []))],
        "",
        "A thread waiting for the GIL is counted where it stands, so the shares say where the "
        "client's CPU goes. What limits it on 2 cores: the submitting process is one "
        "interpreter (one GIL), so its CPU per create (the client column) is spent on one "
        "core, the emulator's (its column) on the other; with 32 creates in flight the "
        "25 ms waits overlap and the client's CPU (1,000 × the client column) is most of the "
        "time left. Most of that CPU is the SDK's HTTP stack (requests, urllib3, "
        "http.client) and its call wrappers, not caliban's code; recording the creates that "
        "finish together in one SQLite transaction (was one per job) and a record's JSON "
        "built field by field (was `dataclasses.asdict`, deep-copying the request body) "
        "are what changed in caliban's share (the history row, old against new).",
        "",
        f"## `caliban status` on a {JOBS}-job group",
        "",
        "Two list calls (pages of 500). The floor is what any client must do: start Python,",
        "import the SDK, make the two calls.",
        "",
        *status_rows,
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Submitting 1,000 jobs to the local emulator, concurrently vs one at a time, and
`caliban status` on a 1,000-job group (calls made, time).

Both submission modes run in the same process against the same emulator (jobs are not
executed: ``--no-run``), first with no added latency, then with ``--latency-ms`` standing in
for the round trip to a remote API. The figure that matters is the ratio, not the seconds.

    .venv/bin/python bench/bench_submit.py          # writes bench/results/submit.md
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from caliban_jupyter.emulator import control  # noqa: E402
from caliban_jupyter.backends.local import LocalBackend  # noqa: E402
from caliban_jupyter.history import History  # noqa: E402
from caliban_jupyter.service.submit import submit_sweep  # noqa: E402
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec  # noqa: E402

OUT = Path(__file__).parent / "results" / "submit.md"
JOBS = int(os.environ.get("BENCH_JOBS", "1000"))
LATENCY_MS = 25
WORKERS = 8


def sweep(xgroup: str, n: int) -> list[JobSpec]:
    return [JobSpec(display_name=f"{xgroup}_{i}", index=i, region="us-central1",
                    image_uri="127.0.0.1:5000/bench:1", args=("--i", str(i)),
                    labels={"xgroup": xgroup, "job_name": "bench"},
                    machine=MachineSpec("n1-standard-4"), experiment={"i": i})
            for i in range(1, n + 1)]


def submit(endpoint: str, history: History, xgroup: str, workers: int) -> tuple[float, dict]:
    backend = LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    # Client construction and the SDK import are not timed.
    next(iter(backend.list_group("warm-up")), None)
    backend.calls.clear()
    t0 = time.perf_counter()
    records = submit_sweep(sweep(xgroup, JOBS), backend, history, xgroup=xgroup,
                           max_workers=workers)
    elapsed = time.perf_counter() - t0
    assert len(records) == JOBS and all(r.is_submitted for r in records)
    return elapsed, dict(backend.calls)


def main() -> int:
    rows = []
    status_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in (0, LATENCY_MS):
            home = Path(tmp) / f"emu{latency}"
            options = ["--port", "0", "--no-run"]
            if latency:
                options += ["--latency-ms", str(latency)]
            endpoint = str(control.start(home, options)["endpoint"])
            try:
                with History(Path(tmp) / f"h{latency}.sqlite") as history:
                    seq, seq_calls = submit(endpoint, history, f"seq{latency}", 1)
                    con, con_calls = submit(endpoint, history, f"con{latency}", WORKERS)
                rows.append((latency, seq, con, seq_calls, con_calls))
                if latency == 0:
                    status_rows = bench_status(endpoint, Path(tmp), "con0")
            finally:
                control.stop(home)

    lines = [
        "# Submission benchmark",
        "",
        f"`bench/bench_submit.py`: {JOBS} jobs to the local emulator (`--no-run`), through the",
        "real SDK (REST transport), recorded in a fresh SQLite history; same run, same",
        f"emulator. Concurrent = {WORKERS} workers; baseline = one at a time (1 worker).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}.",
        "",
        "| API latency added | one at a time | concurrent | speed-up | create calls |",
        "|---|---|---|---|---|",
    ]
    for latency, seq, con, seq_calls, con_calls in rows:
        lines.append(f"| {latency} ms | {seq:.1f} s ({JOBS / seq:.0f} jobs/s) | "
                     f"{con:.1f} s ({JOBS / con:.0f} jobs/s) | **{seq / con:.1f}x** | "
                     f"{seq_calls.get('create', 0)} / {con_calls.get('create', 0)} |")
    lines += [
        "",
        "With no added latency the emulator and the client share the same cores (CPU-bound);",
        f"with {LATENCY_MS} ms per call (standing in for a remote API) the workers overlap "
        "their waits.",
        "After each sweep one listing of the group verifies it (exactly once).",
        "",
        f"## `caliban status` on a {JOBS}-job group",
        "",
        "| what | HTTP calls | time |",
        "|---|---|---|",
    ]
    lines += status_rows
    lines += ["", "Calls are counted by the backend (list = one call per page of 500); "
              "no per-job get is ever made.", ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def bench_status(endpoint: str, tmp: Path, xgroup: str) -> list[str]:
    from caliban_jupyter.service import track as tracking

    rows = []
    backend = LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    next(iter(backend.list_group("warm-up")), None)
    with History(tmp / "status.sqlite") as fresh:
        for label in ("rebuild from labels (no history)", "refresh (history present)"):
            backend.calls.clear()
            t0 = time.perf_counter()
            records = tracking.status(xgroup, backend=backend, history=fresh)
            elapsed = time.perf_counter() - t0
            assert len(records) == JOBS
            rows.append(f"| {label} | {dict(backend.calls)} | {elapsed * 1000:.0f} ms |")
    # The whole command, as a user runs it (process start, SDK import, table rendering).
    env = {**os.environ, "CALIBAN_HOME": str(tmp / "cli-home")}
    argv = [sys.executable, "-m", "caliban_jupyter.cli", "status", "--xgroup", xgroup,
            "--backend", "local", "--endpoint", endpoint]
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        samples.append(time.perf_counter() - t0)
    assert out.stdout.count(f"{xgroup}_") >= JOBS
    rows.append(f"| `caliban status --xgroup {xgroup}` (whole process, best of 3) | "
                f"{-(-JOBS // 500)} list | {min(samples) * 1000:.0f} ms |")
    return rows


if __name__ == "__main__":
    sys.exit(main())

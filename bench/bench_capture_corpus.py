"""The capture's differential test on the whole corpus of real notebooks (issue 21).

Every notebook of tests/data/corpus (tests/data/corpus/manifest.json says which late cells
and sweeps) goes through tests/support/differential.py: each late cell run in a kernel,
and the same cell sent through ``%%caliban_cloud --dry_run --show_program`` whose program
runs on its own. Reports per notebook same / different / refused (each refusal with its
message), and per cell the dry run's time and the statements the program replays.

The capture measured is the checkout on PYTHONPATH of the kernels: ``--checkout`` (default:
this repository). ``--baseline OTHER`` runs the same corpus against another checkout in the
same run and gives the ratios (capture time, replayed statements) of the two::

    .venv/bin/python bench/bench_capture_corpus.py --checkout /work/wt/i21 --baseline /work/main
    .venv/bin/python bench/bench_capture_corpus.py --only functions.ipynb   # one notebook

The interpreter running this script runs the kernels and the programs: it needs ipykernel,
jupyter_client, scikit-learn, pandas and matplotlib (pyproject's dev extra). Writes
bench/results/capture_corpus.md (a section of bench/RESULTS.md: ``bench/run_all.py
--assemble``) and bench/results/capture_corpus.json (every cell, with what it printed).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from support.differential import NotebookReport, Sweep, differential  # noqa: E402

CORPUS = REPO / "tests" / "data" / "corpus"


def load_manifest(corpus: Path) -> list[dict]:
    return json.loads((corpus / "manifest.json").read_text())["notebooks"]


def run_corpus(checkout: Path, entries: list[dict], corpus: Path, python: str) -> list:
    reports = []
    for entry in entries:
        path = corpus / entry["path"]
        print(f"  {checkout}: {entry['path']}", file=sys.stderr, flush=True)
        sweeps = [Sweep(s["cell"], s["name"], s["values"]) for s in entry.get("sweeps", [])]
        try:
            reports.append(differential(path, python=python, pythonpath=str(checkout),
                                        late=entry.get("late"), sweeps=sweeps))
        except Exception as e:  # one notebook's failure is reported, the others still run
            reports.append(NotebookReport(f"{path.parent.name}/{path.name}",
                                          error=f"{type(e).__name__}: {e}"))
    return reports


def revision(checkout: Path) -> str:
    """The checkout's commit (and whether its tree has uncommitted changes)."""
    import subprocess

    try:
        rev = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True
                               ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" + uncommitted changes" if dirty else "")


def _cell_key(c) -> tuple:
    return (c.notebook, c.cell, c.sweep)


def _num(v, fmt="{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def render(label: str, reports: list, baseline_label: str | None, baseline: list | None,
           seconds: float) -> str:
    out = ["# Capture on real notebooks (differential)", ""]
    total = {"same": 0, "different": 0, "refused": 0, "unstable": 0, "error": 0}
    for r in reports:
        for k, v in r.counts().items():
            total[k] += v
    cells = [c for r in reports for c in r.cells]
    out.append(
        f"{len(reports)} notebooks of tests/data/corpus (README there: sources, commits, "
        f"licences), {sum(1 for c in cells if c.sweep is None)} late cells and "
        f"{sum(1 for c in cells if c.sweep)} sweep jobs; capture of `{label}`"
        + (f", baseline `{baseline_label}` measured in the same run" if baseline else "")
        + f". Python {platform.python_version()}, {seconds / 60:.1f} min. Each cell: the "
        "kernel's output (run twice) against the output of the program "
        "`%%caliban_cloud --dry_run --show_program` shows, run on its own; addresses and "
        "timings masked. Capture time: the dry-run cell's round trip in the kernel.")
    out += ["", f"**Total: {total['same']} same, {total['different']} different, "
            f"{total['refused']} refused, {total['unstable']} unstable (kernel not "
            "deterministic: no verdict).**", ""]
    base = {_cell_key(c): c for r in baseline or [] for c in r.cells}
    if baseline:
        btotal = {"same": 0, "different": 0, "refused": 0}
        for c in base.values():
            if c.status in btotal:
                btotal[c.status] += 1
        out += [f"Baseline `{baseline_label}`: {btotal['same']} same, "
                f"{btotal['different']} different, {btotal['refused']} refused.", ""]
    out += ["| notebook | same | different | refused | unstable |", "|---|---:|---:|---:|---:|"]
    for r in reports:
        n = r.counts()
        out.append(f"| {r.notebook} | {n['same']} | {n['different']} | {n['refused']} | "
                   f"{n['unstable']} |")
    for r in [*reports, *(baseline or [])]:
        if r.error:
            out.append(f"\n**Not run: {r.notebook}**: {r.error}")
    out += ["", "Per cell (`cell` is the notebook's code cell, 0-based; `extra lines`: "
            "lines the program printed before the cell's own output):", ""]
    head = "| notebook | cell | sweep | status | capture s | replayed stmts | replayed cells " \
           "| extra lines |"
    rule = "|---|---:|---|---|---:|---:|---:|---:|"
    if baseline:
        head += " baseline status | capture × baseline | replayed × baseline |"
        rule += "---|---:|---:|"
    out += [head, rule]
    ratios_t, ratios_r = [], []
    for c in cells:
        row = (f"| {c.notebook} | {c.cell} | {c.sweep or ''} | {c.status} | "
               f"{_num(c.capture_seconds)} | {_num(c.replayed_statements, '{}')} | "
               f"{_num(c.replayed_cells, '{}')} | {c.extra_lines} |")
        if baseline:
            b = base.get(_cell_key(c))
            rt = rr = None
            if b is not None and b.capture_seconds and c.capture_seconds is not None:
                rt = c.capture_seconds / b.capture_seconds
                ratios_t.append(rt)
            if b is not None and b.replayed_statements and c.replayed_statements is not None:
                rr = c.replayed_statements / b.replayed_statements
                ratios_r.append(rr)
            row += f" {b.status if b else '–'} | {_num(rt)} | {_num(rr)} |"
        out.append(row)
    if baseline and ratios_t:
        out += ["", f"Median capture time × baseline: {statistics.median(ratios_t):.2f}; "
                f"median replayed statements × baseline: "
                f"{statistics.median(ratios_r) if ratios_r else float('nan'):.2f}."]
    for title, which in ((label, cells), (baseline_label, list(base.values()))):
        bad = [c for c in which if c.status in ("different", "refused", "unstable")]
        if title and bad:
            out += ["", f"## What differs, what is refused: `{title}`", ""]
            for c in bad:
                where = f"{c.notebook} cell {c.cell}" + (f" ({c.sweep})" if c.sweep else "")
                message = " ".join(c.message.split())[:400]
                out.append(f"- **{c.status}** {where}: {message}")
    return "\n".join(out) + "\n"


def _brief(cell) -> dict:
    """A cell's record for the JSON file: the program only where it did not print the
    same, without the shipped values' bytes; outputs cut at 4,000 characters."""
    import re

    out = asdict(cell)
    out["program"] = "" if cell.status == "same" else re.sub(
        r"_caliban_load\(globals\(\), '[^']*'\)", "_caliban_load(globals(), '...')",
        cell.program)
    out["expected"], out["got"] = cell.expected[-4000:], cell.got[-4000:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, default=REPO,
                    help="the checkout whose capture is measured (PYTHONPATH of the kernels)")
    ap.add_argument("--baseline", type=Path, help="another checkout, measured in the same run")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--only", nargs="*", help="notebook file names to run (default: all)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "capture_corpus.md")
    args = ap.parse_args()
    import time

    entries = load_manifest(args.corpus)
    if args.only:
        entries = [e for e in entries if Path(e["path"]).name in args.only]
    started = time.perf_counter()
    # Before the run: a checkout that gets commits meanwhile is reported as it was.
    label = f"{args.checkout} at {revision(args.checkout)}"
    base_label = f"{args.baseline} at {revision(args.baseline)}" if args.baseline else None
    print(f"checkout {label}; baseline {base_label}", file=sys.stderr)
    reports = run_corpus(args.checkout.resolve(), entries, args.corpus, sys.executable)
    baseline = None
    if args.baseline:
        baseline = run_corpus(args.baseline.resolve(), entries, args.corpus, sys.executable)
    seconds = time.perf_counter() - started
    text = render(label, reports, base_label, baseline, seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    dump = {"checkout": label, "cells": [_brief(c) for r in reports for c in r.cells]}
    if baseline:
        dump["baseline"] = {"checkout": base_label,
                            "cells": [_brief(c) for r in baseline for c in r.cells]}
    args.out.with_suffix(".json").write_text(json.dumps(dump, indent=1) + "\n")
    print(text)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

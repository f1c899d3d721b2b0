"""Run every benchmark in bench/ (each writes bench/results/<topic>.md), then assemble
bench/RESULTS.md. Needs the services of scripts/services.sh.

    .venv/bin/python bench/run_all.py            # run all, then assemble
    .venv/bin/python bench/run_all.py --assemble # only assemble existing results
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["cli", "expansion", "packaging", "build_modes", "submit", "magics", "table", "server",
         "outputs", "emulator_tuning"]
HEADER = """# Benchmark results

Every figure is a ratio against a baseline measured in the same run, on the project's
standard machine (2 cores). Each section is written by `bench/bench_<topic>.py`; this file
is assembled by `bench/run_all.py`. Tests never assert on time: these are the only timings.
"""


def main() -> None:
    if "--assemble" not in sys.argv:
        for topic in ORDER:
            print(f"== bench_{topic}.py", flush=True)
            subprocess.run([sys.executable, str(HERE / f"bench_{topic}.py")], check=True)
    parts = [HEADER]
    for topic in ORDER:
        path = HERE / "results" / f"{topic}.md"
        if path.exists():
            lines = path.read_text().strip().splitlines()
            # Each file's title becomes a section; its own sections move one level down.
            body = ["#" + line if line.startswith("## ") else line for line in lines[1:]]
            parts.append("\n".join([f"## {lines[0].lstrip('# ')}", *body]))
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()

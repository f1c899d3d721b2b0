"""Four `caliban cloud` processes submitting at once into one CALIBAN_HOME lose nothing:
every job is in the shared history (SQLite, WAL) and on the emulator, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from caliban_jupyter.backends.emulator import control
from caliban_jupyter.history import History

from .test_faults import all_jobs

PER_PROCESS = 25


def test_four_processes_submitting_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "proj"
    (project / "trainer").mkdir(parents=True)
    (project / "trainer" / "train.py").write_text("print('never run')\n")
    (project / "exp.json").write_text(json.dumps({"seed": list(range(PER_PROCESS))}))
    # Jobs are recorded, not run: this is about submission and history.
    record = control.start(home, ["--port", "0", "--no-run"])
    env = dict(os.environ, CALIBAN_HOME=str(home), NO_GCE_CHECK="true",
               NO_PROXY="127.0.0.1,localhost")
    env.pop("CALIBAN_ENDPOINT", None)
    try:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "caliban_jupyter.cli", "cloud", "--backend", "local",
             "--nogpu", "--image_tag", "127.0.0.1:5000/never:1", "--xgroup", f"conc{i}",
             "--experiment_config", "exp.json", "trainer.train"],
            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(4)]
        outcomes = [p.communicate(timeout=300) for p in procs]
        for p, (_, err) in zip(procs, outcomes, strict=True):
            assert p.returncode == 0, err
            assert "started the local Vertex emulator" not in err  # reused the running one
        with History(home / "history.sqlite") as history:
            for i in range(4):
                jobs = history.jobs(f"conc{i}")
                assert len(jobs) == PER_PROCESS
                assert all(j.is_submitted and j.resource_name for j in jobs)
                assert len({j.submission_id for j in jobs}) == PER_PROCESS
        for i in range(4):
            assert len(all_jobs(str(record["endpoint"]), f"conc{i}")) == PER_PROCESS
    finally:
        control.stop(home)

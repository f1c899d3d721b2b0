"""Programs that run inside the job, shipped into the image as plain files.

They are ordinary modules here (so the tests import and run them on this machine) and are
copied next to the job's code by :func:`runtime_files`. Inside the job they may use only
the standard library, plus what they find there: NumPy and cloudpickle for values, and
nbclient, nbformat and ipykernel for notebooks.

``caliban_outputs.py``
    Runs a program, then saves the values named by ``-o`` to the job's output location
    with a manifest written last (the commit marker the client waits for).
``caliban_notebook.py``
    Executes a notebook with a real kernel, papermill-style (parameters injected after
    the cell tagged ``parameters``), streams its outputs to the log and writes the executed
    notebook to the job's output location, also when a cell fails.
"""

from __future__ import annotations

from pathlib import Path

from ...spec.target import NOTEBOOK_RUNNER

OUTPUTS_RUNNER = "caliban_outputs.py"

_HERE = Path(__file__).resolve().parent


def runtime_files(*, notebook: bool = False) -> dict[str, bytes]:
    """The job-side files a job needs, by their name in the job's working directory."""
    names = [OUTPUTS_RUNNER, *([NOTEBOOK_RUNNER] if notebook else [])]
    return {name: (_HERE / name).read_bytes() for name in names}


def outputs_command(program: str, outputs: tuple[str, ...], metric: str | None = None
                    ) -> tuple[str, ...]:
    """The entrypoint running ``program`` and saving ``outputs`` after it (job args follow);
    with ``metric`` (a tuning trial), also reporting that variable to the tuning service."""
    report = ("--metric", metric) if metric else ()
    return ("python3", OUTPUTS_RUNNER, "--outputs", ",".join(outputs), *report, program)


def notebook_command(notebook: str, outputs: tuple[str, ...] = (), metric: str | None = None
                     ) -> tuple[str, ...]:
    """The entrypoint executing ``notebook``; the job's args after ``--`` are parameters
    (``metric``: a tuning trial's variable to report)."""
    report = ("--metric", metric) if metric else ()
    return ("python3", NOTEBOOK_RUNNER, "--outputs", ",".join(outputs), *report, notebook,
            "--")

"""Helpers shared by the tests: a sample project, the ``caliban`` command, job records and
polling with a deadline.

``import support`` works from every test directory: ``pythonpath`` in pyproject's
``[tool.pytest.ini_options]`` puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from caliban_jupyter.records import JobRecord

T = TypeVar("T")

#: Settings a developer's shell may hold that would point a test's ``caliban`` at a real
#: Google project, another endpoint, registry, base image or credentials.
GOOGLE_ENV = ("PROJECT_ID", "REGION", "CALIBAN_BACKEND", "CALIBAN_ENDPOINT",
              "CALIBAN_REGISTRY", "CALIBAN_BASE_IMAGE", "GOOGLE_APPLICATION_CREDENTIALS")

#: The sample project's job program: prints its arguments.
SAMPLE_TRAIN = "import sys\nprint(sys.argv)\n"

#: A job program for sweeps in a kernel: sleeps ``--sleep`` seconds, prints its ``--x``.
TRAIN = """\
import sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
time.sleep(float(args.get("--sleep", "0")))
print("TRAINED", args.get("--x"))
"""


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (making directories); return ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def sample_project(root: Path, train: str = SAMPLE_TRAIN) -> Path:
    """A module project in ``root``: ``trainer/__init__.py`` and ``trainer/train.py``
    (the target ``trainer.train``); returns ``root``."""
    return write_tree(root, {"trainer/__init__.py": "", "trainer/train.py": train})


def caliban(cwd: Path | str | None, *args: str, stdin: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    """Run ``caliban *args`` in ``cwd`` as a user would, without :data:`GOOGLE_ENV`.

    ``stdin`` is the text typed in (none: stdin is empty, never the terminal); ``env``
    adds or overrides variables.
    """
    full = {k: v for k, v in os.environ.items() if k not in GOOGLE_ENV}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", *args], cwd=cwd,
                          input=stdin, stdin=subprocess.DEVNULL if stdin is None else None,
                          capture_output=True, text=True, env=full, timeout=timeout)


def job_record(index: int, state: str = "RUNNING", *, lr: str | None = None,
               attempt: int = 0, **changes: object) -> JobRecord:
    """A recorded job ``job_{index}`` of group ``g`` (``--lr 0.{index} --epochs 3``);
    ``attempt`` makes its resubmissions distinct, ``changes`` sets any other field."""
    # Imported when used: tests/conftest.py imports this module before its
    # pytest_configure isolates CALIBAN_HOME, and no package module may load before that.
    from caliban_jupyter.records import JobRecord

    base = JobRecord(
        submission_id=f"sid-{index}-{attempt}", display_name=f"job_{index}", xgroup="g",
        index=index, state=state, backend="local", project="p", region="us-central1",
        image_uri="img:1", args=("--lr", lr or f"0.{index}", "--epochs", "3"),
        labels={"xgroup": "g"}, machine={"machineType": "n1-standard-8"},
        resource_name=f"projects/p/locations/us-central1/customJobs/{index}{attempt}",
        created="2024-05-01T10:00:00.123456789Z", started="2024-05-01T10:00:05Z",
        url=f"http://127.0.0.1:8470/jobs/{index}")
    return base.evolve(**changes) if changes else base


def wait_for(check: Callable[[], T | None], *, timeout: float = 120.0,
             interval: float = 0.2, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds.

    The deadline is generous on purpose: it only bounds a broken run, it asserts nothing
    about speed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def install_kernelspec() -> None:
    """Make this interpreter the ``python3`` kernel of its environment (``--sys-prefix``),
    as nbclient and the Jupyter servers of the tests start it.

    Several test processes (pytest-xdist workers) may ask at once: the install runs under
    an exclusive lock, and not at all when the kernelspec already names this interpreter.
    """
    import fcntl
    import hashlib
    import json
    import tempfile

    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    key = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    lock = Path(tempfile.gettempdir()) / f"caliban-kernelspec-{key}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            if json.loads(spec.read_text())["argv"][0] == sys.executable:
                return
        except (OSError, ValueError, KeyError, IndexError):
            pass  # missing or unreadable: (re)install it
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                        "--name", "python3"], check=True, capture_output=True)

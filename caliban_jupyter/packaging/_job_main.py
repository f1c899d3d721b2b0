"""The entry point of a caliban code package: ``python -m caliban_job ARGS``.

This file is copied verbatim into every package ``--build package`` makes, as
``caliban_job/__main__.py``; it runs inside the job, on whatever image runs the package, so
it uses the standard library only and supports Python 3.8+. It never runs in the
submitting process (importing it does nothing).

It does in the job what the Dockerfile of ``--build docker`` does at build time, in the
same order:

1. unpack the files the package carries (``--dir`` data first, then the code and the
   generated program, later ones winning) into a fresh working directory;
2. install the requirements with pip (each requirements file, then the project's
   setup.py / pyproject.toml with its extras), so they are installed when the job starts;
3. replace itself with the program (``python -m MODULE``, ``python SCRIPT`` or ``bash
   FILE``) and the job's arguments, in that directory: the program's exit status is the
   job's.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

JOB_FILE = "job.json"
APP_FILE = "app.tar"
DEPS_DIR = ".caliban"  # requirements files and setup files inside the working directory


def _say(message: str) -> None:
    print(f"caliban: {message}", file=sys.stderr, flush=True)


def unpack(module: str, dest: str) -> None:
    """Extract the ``app.tar`` shipped in package ``module`` into ``dest``."""
    package = importlib.import_module(module)
    path = os.path.join(os.path.dirname(os.path.abspath(package.__file__ or "")), APP_FILE)
    with tarfile.open(path) as tar:
        # The archive is the user's own files, written by caliban: keep them as they are
        # (symlinks included), as Docker's COPY does. The filter argument exists from
        # Python 3.12 (and security backports); 3.14 defaults to a stricter one.
        if hasattr(tarfile, "fully_trusted_filter"):
            tar.extractall(dest, filter="fully_trusted")
        else:
            tar.extractall(dest)


def install_commands(job: dict, workdir: str) -> list[tuple[list[str], str]]:
    """The pip commands (argv, cwd) that install the job's requirements, in order."""
    pip = [sys.executable, "-m", "pip", "install"]
    deps = os.path.join(workdir, DEPS_DIR)
    out = [([*pip, "-r", os.path.join(deps, "requirements", name)], workdir)
           for name in job.get("requirements", [])]
    if job.get("setup"):
        extras = job.get("extras") or []
        target = f".[{','.join(extras)}]" if extras else "."
        out.append(([*pip, target], os.path.join(deps, "setup")))
    # What the program itself needs (a notebook job: nbclient, nbformat, ipykernel),
    # installed only when the image lacks it, as the Docker path's image does.
    missing = [name for name in job.get("ensure", []) if not _importable(name)]
    if missing:
        out.append(([*pip, *missing], workdir))
    return out


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def command(job: dict, argv: list[str]) -> list[str]:
    """The program's command line: its entry point, ``python3`` meaning this interpreter
    (the one the requirements went into), then the job's arguments."""
    entry = list(job["entrypoint"])
    if entry and entry[0] in ("python3", "python"):
        entry[0] = sys.executable
    return [*entry, *argv]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, JOB_FILE), encoding="utf-8") as f:
        job = json.load(f)
    workdir = os.environ.get("CALIBAN_WORKDIR") or tempfile.mkdtemp(prefix="caliban-job-")
    os.makedirs(workdir, exist_ok=True)
    for module in job.get("parts", []):
        unpack(module, workdir)
    # What the Docker path's image sets: pip usable on "externally managed" system Pythons
    # (PEP 668), quiet about upgrades, and program output unbuffered so logs stream live.
    for key, value in (("PIP_BREAK_SYSTEM_PACKAGES", "1"), ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
                       ("PIP_ROOT_USER_ACTION", "ignore"), ("PYTHONUNBUFFERED", "1")):
        os.environ.setdefault(key, value)
    steps = install_commands(job, workdir)
    if steps:
        _say("installing the requirements when the job starts")
    for args, cwd in steps:
        code = subprocess.call(args, cwd=cwd)
        if code:
            _say(f"installing the requirements failed (exit status {code}): "
                 f"{' '.join(args[1:])}. Fix the requirements, or use an image that has them.")
            sys.exit(code)
    os.chdir(workdir)
    cmd = command(job, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()

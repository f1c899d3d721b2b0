"""Dockerfile text as a pure function of a small spec.

Layer order is chosen for the build cache: what changes least comes first (base image,
system packages, Python dependencies), then the ``--dir`` data directories, then the code,
then generated files (captured notebook code). A one-line code change therefore rebuilds
only the last few layers.

The build context that :mod:`.context` writes has a fixed layout the ``COPY`` lines rely on::

    Dockerfile
    deps/requirements/...      requirements files (each top-level one installed with pip -r
                               from there) and the files and paths they reference
    deps/setup/...             setup.py / setup.cfg / pyproject.toml, for pip install .[extras],
                               and the packages and files they name
    dirs/<i>/...               the i-th --dir
    code/...                   the code (package root), minus files under a --dir
    gen/...                    generated files
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

WORKDIR = "/usr/app"
# A fixed user, never the host's uid or name: images must not depend on who built them.
USER_NAME = "caliban"
USER_ID = 1000
SETUP_DIR = "/tmp/caliban-setup"
REQUIREMENTS_DIR = "/tmp/caliban-requirements"

# Makes pip usable on Debian-based images (PEP 668 "externally managed" system Python) and
# keeps its caches out of the layers; unbuffered output so job logs stream live.
_ENV = (
    "PIP_BREAK_SYSTEM_PACKAGES=1",
    "PIP_NO_CACHE_DIR=1",
    "PIP_DISABLE_PIP_VERSION_CHECK=1",
    "PIP_ROOT_USER_ACTION=ignore",
    "PYTHONUNBUFFERED=1",
)

# What executes a notebook in the job (packaging/jobfiles/caliban_notebook.py).
NOTEBOOK_PACKAGES = ("nbclient", "nbformat", "ipykernel")
_NOTEBOOK_CHECK = "import nbclient, nbformat, ipykernel"


@dataclass(frozen=True)
class DockerfileSpec:
    """Everything the Dockerfile depends on.

    Attributes
    ----------
    base_image
        The ``FROM`` image.
    entrypoint
        The program and its fixed arguments; the job's arguments are appended at run time.
    apt_packages
        Debian packages installed with ``apt-get install --no-install-recommends``.
    requirements
        Names of files under ``deps/requirements/`` in the context, installed in order
        with ``pip install -r`` from that directory.
    setup_files
        Names of files under ``deps/setup/`` (``setup.py``, ``pyproject.toml`` ...); when
        non-empty, ``pip install .[extras]`` runs on them.
    extras
        The extras for ``pip install .[...]``, e.g. ``("gpu", "tf")``.
    dirs
        Working-directory-relative destinations of the ``--dir`` directories, in order.
    code
        Whether the context holds code under ``code/``.
    generated
        Whether the context holds generated files under ``gen/``.
    notebook_runtime
        The job executes a notebook: nbclient, nbformat and ipykernel are installed with
        pip unless the base image already has them (Debian's packages count).
    """

    base_image: str
    entrypoint: tuple[str, ...]
    apt_packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    setup_files: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()
    code: bool = True
    generated: bool = False
    notebook_runtime: bool = False


def _dest(rel: str) -> str:
    """The absolute destination directory (with a trailing slash) of a cwd-relative dir."""
    rel = rel.strip("/")
    return f"{WORKDIR}/" if rel in ("", ".") else f"{WORKDIR}/{rel}/"


def _copy(src: str, dest: str, *, owned: bool = True) -> str:
    # JSON form so that paths with spaces survive.
    chown = f"--chown={USER_NAME}:{USER_NAME} " if owned else ""
    return f"COPY {chown}{json.dumps([src, dest])}"


def render_dockerfile(spec: DockerfileSpec) -> str:
    """Return the Dockerfile text for ``spec`` (deterministic: same spec, same text)."""
    lines = [f"FROM {spec.base_image}", "USER root", "ENV " + " ".join(_ENV)]
    if spec.apt_packages:
        packages = " ".join(shlex.quote(p) for p in spec.apt_packages)
        lines.append(
            "RUN apt-get update"
            " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            f"{packages} && rm -rf /var/lib/apt/lists/*"
        )
    # --non-unique: some base images already have a uid 1000 user (e.g. "ubuntu").
    lines.append(
        f"RUN id -u {USER_NAME} >/dev/null 2>&1 || useradd --create-home --no-log-init "
        f"--non-unique --uid {USER_ID} --user-group {USER_NAME}; "
        f"mkdir -p {WORKDIR} && chown {USER_NAME}:{USER_NAME} {WORKDIR}"
    )
    lines.append(f"WORKDIR {WORKDIR}")
    # Dependency layers copy only the dependency files (and what they reference, in the
    # project's layout, so `-r base.txt` or `-e ./pkg` resolve), so code edits keep them
    # cached.
    if spec.requirements:
        lines.append(_copy("deps/requirements/", f"{REQUIREMENTS_DIR}/", owned=False))
    for name in spec.requirements:
        lines.append(f"RUN cd {REQUIREMENTS_DIR} && python3 -m pip install --no-cache-dir "
                     f"-r {shlex.quote(name)}")
    if spec.setup_files:
        lines.append(_copy("deps/setup/", f"{SETUP_DIR}/", owned=False))
        target = shlex.quote(f".[{','.join(spec.extras)}]" if spec.extras else ".")
        lines.append(
            f"RUN cd {SETUP_DIR} && python3 -m pip install --no-cache-dir {target}"
            f" && cd / && rm -rf {SETUP_DIR}"
        )
    if spec.notebook_runtime:
        lines.append(f"RUN python3 -c {shlex.quote(_NOTEBOOK_CHECK)} 2>/dev/null || "
                     f"python3 -m pip install --no-cache-dir {' '.join(NOTEBOOK_PACKAGES)}")
    for i, rel in enumerate(spec.dirs):
        lines.append(_copy(f"dirs/{i}/", _dest(rel)))
    if spec.code:
        lines.append(_copy("code/", f"{WORKDIR}/"))
    if spec.generated:
        lines.append(_copy("gen/", f"{WORKDIR}/"))
    lines.append(f"USER {USER_NAME}")
    # Exec form: the program is PID 1, so the container's exit status is the program's
    # and `docker run IMAGE ARGS...` appends the job's arguments.
    lines.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
    return "\n".join(lines) + "\n"

"""Code packages for ``--build package``: deterministic Python source distributions.

The files a Docker build would copy (the ``--dir`` directories, the code, the generated
program, the requirements) become one or two sdists, each named by the hash of its
content, so an unchanged part is never uploaded twice:

* ``caliban_data-0+HASH.tar.gz`` carries the ``--dir`` directories (only when there are
  some): data rarely changes between two submissions, like the cached layers of the Docker
  path;
* ``caliban_job-0+HASH.tar.gz`` carries the code, the generated program and the
  requirements files, plus ``caliban_job/__main__`` (:mod:`._job_main`), which unpacks both
  into a working directory, installs the requirements when the job starts and runs the
  program. Its hash covers the data package's, so it names the whole job exactly.

Each sdist holds a small package (``__init__.py``, ``app.tar``, for the job also
``__main__.py`` and ``job.json``) and a ``pyproject.toml`` any setuptools from 61 on can
build, so ``pip install`` works on Vertex's executors (with build isolation) and offline
on a Debian image (``--no-index --no-build-isolation``, Debian's setuptools).

Everything is written with fixed timestamps, owners, order and gzip header: the same inputs
give the same bytes, hence the same names.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import UsageError
from ..spec.executors import PACKAGE_MODULE
from .context import (
    GENERATED_REQUIREMENTS,
    BuildRequest,
    Entry,
    _HashingWriter,
    _select,
    _tarinfo,
    add_entries,
)
from .dockerfile import NOTEBOOK_PACKAGES

DATA_MODULE = "caliban_data"
#: Bumped when the layout or the runtime changes incompatibly (it is part of every hash).
FORMAT = 1
HASH_LENGTH = 16
DEPS_DIR = ".caliban"
_MEMO_SIZE = 64  # data digests remembered
_RUNTIME = Path(__file__).with_name("_job_main.py")


@dataclass(frozen=True)
class PackagePart:
    """One sdist: its file name, the module it installs and what it carries."""

    module: str
    digest: str
    entries: tuple[Entry, ...] = field(repr=False)
    extra_files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    @property
    def version(self) -> str:
        return f"0+{self.digest[:HASH_LENGTH]}"

    @property
    def name(self) -> str:
        """The sdist's file name, e.g. ``caliban_job-0+0123456789abcdef.tar.gz``."""
        return f"{self.module}-{self.version}.tar.gz"

    @property
    def files(self) -> int:
        return sum(1 for e in self.entries if e.kind != "dir")

    @property
    def content_bytes(self) -> int:
        return sum(e.size for e in self.entries) + sum(len(d) for _, d in self.extra_files)


@dataclass(frozen=True)
class PackagePlan:
    """The sdists of a job (data first, then the job itself) and what runs in the job."""

    parts: tuple[PackagePart, ...]
    entrypoint: tuple[str, ...]
    requirements: tuple[str, ...]
    requirement_lines: tuple[str, ...]
    setup: bool
    extras: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def job(self) -> PackagePart:
        return self.parts[-1]

    def install_summary(self) -> str:
        """What is installed when each job starts, in one line."""
        what = []
        if self.requirement_lines:
            what.append(", ".join(self.requirement_lines))
        else:
            what.extend(self.requirements)
        if self.setup:
            what.append("the project's setup.py/pyproject.toml" +
                        (f" [{','.join(self.extras)}]" if self.extras else ""))
        return "; ".join(what) if what else "nothing (no requirements)"


def _dest(arcname: str, dirs: tuple[str, ...]) -> str | None:
    """Where a Docker-context member lands in the job's working directory."""
    head, _, rest = arcname.partition("/")
    if head in ("code", "gen"):
        return rest or None
    if head == "dirs":
        index, _, inner = rest.partition("/")
        if not index:
            return None
        base = dirs[int(index)]
        if base in (".", ""):
            return inner or None
        return f"{base}/{inner}" if inner else base
    if head == "deps":
        return f"{DEPS_DIR}/{rest}" if rest else DEPS_DIR
    return None


def _remap(entries: Iterable[Entry], dirs: tuple[str, ...], groups: tuple[str, ...]
           ) -> tuple[Entry, ...]:
    """The members of ``groups`` (in that order, later ones winning, as Docker's COPY
    layers do) under their working-directory names, with every parent directory, sorted."""
    out: dict[str, Entry] = {}
    for group in groups:
        for e in entries:
            if e.arcname.partition("/")[0] != group:
                continue
            dest = _dest(e.arcname, dirs)
            if dest is None:
                continue
            out[dest] = Entry(dest, e.kind, e.source, e.data, e.size, e.executable,
                              e.linkname)
    for name in list(out):
        parent = PurePosixPath(name).parent
        while parent.as_posix() not in (".", "") and parent.as_posix() not in out:
            out[parent.as_posix()] = Entry(parent.as_posix(), "dir")
            parent = parent.parent
    return tuple(out[k] for k in sorted(out))


def _write_app(entries: tuple[Entry, ...], sink: IO[bytes] | None) -> str:
    """Write the ``app.tar`` of ``entries`` to ``sink`` (None: only hash); its sha256."""
    out = _HashingWriter(sink)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT,  # type: ignore[call-overload]
                      copybufsize=1 << 20) as tar:
        add_entries(tar, entries)
    return out.hexdigest()


def runtime_source() -> bytes:
    """The text of ``caliban_job/__main__.py`` in every job package."""
    return _RUNTIME.read_bytes()


def _stat_key(entries: tuple[Entry, ...]) -> str:
    """What identifies ``entries`` without reading them: names, sizes, times, inodes."""
    h = hashlib.sha256(f"{FORMAT}\0".encode())
    for e in entries:
        if e.source is not None:
            st = os.stat(e.source, follow_symlinks=False)
            h.update(f"{e.arcname}\0{e.kind}\0{st.st_size}\0{st.st_mtime_ns}\0"
                     f"{st.st_ctime_ns}\0{st.st_ino}\0{e.executable}\0".encode())
        else:
            h.update(f"{e.arcname}\0{e.kind}\0{e.linkname}\0".encode() + (e.data or b"") + b"\0")
    return h.hexdigest()


def _data_digest(entries: tuple[Entry, ...], memo: Path | None) -> str:
    """The data package's content hash. With ``memo`` (a small JSON file), data whose files
    have not changed since the last time (same sizes, modification and change times,
    inodes) is not read again: like Docker's cached layers, it costs nothing on a
    code-only change."""
    def compute() -> str:
        return hashlib.sha256(f"{DATA_MODULE}/{FORMAT}/".encode()
                              + _write_app(entries, None).encode()).hexdigest()

    if memo is None:
        return compute()
    key = _stat_key(entries)
    try:
        table = json.loads(memo.read_text())
    except (OSError, ValueError):
        table = {}
    if not isinstance(table, dict):
        table = {}
    if isinstance(table.get(key), str):
        return str(table[key])
    digest = compute()
    table = dict(list(table.items())[-(_MEMO_SIZE - 1):])
    table[key] = digest
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(table))
        tmp.replace(memo)
    except OSError:
        pass  # only a shortcut for the next time
    return digest


def plan_package(req: BuildRequest, memo: Path | None = None) -> PackagePlan:
    """Select the files of ``req`` as the Docker path would, and name the sdists by hash.

    Reads every file once (to hash it) and writes nothing, except that with ``memo``
    unchanged ``--dir`` data is recognised by its files' stat and not read (see
    :func:`_data_digest`).

    Raises
    ------
    UsageError
        What :func:`~caliban_jupyter.packaging.context.write_context` refuses, and apt
        packages, which only a Docker build can install.
    """
    if req.apt_packages:
        raise UsageError(
            f"apt packages ({', '.join(req.apt_packages)}) need a Docker build: --build "
            "package runs your code on a prebuilt image and cannot install system "
            "packages. Use --build docker or --build cloudbuild, or drop apt_packages "
            "(.calibanconfig.json) for these jobs")
    entries, spec, skipped = _select(req)
    parts: list[PackagePart] = []
    if spec.dirs:
        data = _remap(entries, spec.dirs, ("dirs",))
        parts.append(PackagePart(DATA_MODULE, _data_digest(data, memo), data))
    code = _remap(entries, spec.dirs, ("code", "gen", "deps"))
    job: dict[str, object] = {
        "format": FORMAT,
        "parts": [p.module for p in parts] + [PACKAGE_MODULE],
        "entrypoint": list(spec.entrypoint),
        "requirements": list(spec.requirements),
        "setup": bool(spec.setup_files),
        "extras": list(spec.extras),
    }
    if spec.notebook_runtime:  # what runs a notebook, installed if the image lacks it
        job["ensure"] = list(NOTEBOOK_PACKAGES)
    job_json = json.dumps(job, indent=1, sort_keys=True).encode()
    runtime = runtime_source()
    h = hashlib.sha256(f"{PACKAGE_MODULE}/{FORMAT}/".encode())
    for part in parts:
        h.update(part.digest.encode())
    h.update(_write_app(code, None).encode())
    h.update(hashlib.sha256(job_json).hexdigest().encode())
    h.update(hashlib.sha256(runtime).hexdigest().encode())
    parts.append(PackagePart(PACKAGE_MODULE, h.hexdigest(), code,
                             (("job.json", job_json), ("__main__.py", runtime))))
    generated = tuple(req.requirements) if GENERATED_REQUIREMENTS in spec.requirements else ()
    warnings = tuple(
        f"left {path} out of the package: it looks like a credential. If the job needs it, "
        "list it explicitly with --include (credentials should rather come from the job's "
        "service account)" for path in skipped)
    return PackagePlan(tuple(parts), tuple(spec.entrypoint), tuple(spec.requirements),
                       generated, bool(spec.setup_files), tuple(spec.extras), warnings)


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{module}"
version = "{version}"
description = "A job packaged by caliban-jupyter (caliban cloud --build package)"
requires-python = ">=3.8"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
{module} = [{data}]
"""

_PKG_INFO = """\
Metadata-Version: 2.1
Name: {module}
Version: {version}
Summary: A job packaged by caliban-jupyter (caliban cloud --build package)
Requires-Python: >=3.8
"""


def write_part(part: PackagePart, fileobj: IO[bytes]) -> None:
    """Write ``part`` as a gzipped sdist to ``fileobj`` (deterministic bytes)."""
    root = f"{part.module}-{part.version}"
    names = ["app.tar", *(n for n, _ in part.extra_files if n != "__main__.py")]
    files: list[tuple[str, bytes]] = [
        ("PKG-INFO", _PKG_INFO.format(module=part.module, version=part.version).encode()),
        ("pyproject.toml", _PYPROJECT.format(
            module=part.module, version=part.version,
            data=", ".join(json.dumps(n) for n in names)).encode()),
        (f"{part.module}/__init__.py",
         b'"""Files of a job packaged by caliban-jupyter (see __main__.py)."""\n'),
        *((f"{part.module}/{n}", d) for n, d in part.extra_files),
    ]
    # mtime 0 and no file name: the gzip header is the same on every run.
    with gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0,
                       compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        tar.addfile(_tarinfo(root, "dir", mode=0o755))
        tar.addfile(_tarinfo(f"{root}/{part.module}", "dir", mode=0o755))
        for name, data in sorted(files):
            tar.addfile(_tarinfo(f"{root}/{name}", "file", len(data)), io.BytesIO(data))
        with tempfile.TemporaryFile(prefix="caliban-app-") as app:
            _write_app(part.entries, app)
            size = app.tell()
            app.seek(0)
            tar.addfile(_tarinfo(f"{root}/{part.module}/app.tar", "file", size), app)


def build_part(part: PackagePart, directory: Path) -> Path:
    """Write ``part`` into ``directory`` (a cache) unless it is there; return its path."""
    path = directory / part.name
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{part.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as f:
        write_part(part, f)
    tmp.replace(path)
    return path


__all__ = ["DATA_MODULE", "PackagePart", "PackagePlan", "build_part",
           "plan_package", "write_part"]

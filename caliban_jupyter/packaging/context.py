"""The build context: which files, in which layout, as a deterministic tar and its hash.

:func:`plan_context` needs no Docker (the dry run uses it). :func:`write_context` streams
the same tar to a file object while hashing it, so a build reads every file once. The tar's
sha256 identifies the build: same code, dependencies and Dockerfile, same image tag.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from ..errors import UsageError
from ..settings import DEFAULT_BASE_IMAGES
from ..spec.target import Target
from .dockerfile import DockerfileSpec, render_dockerfile
from .ignore import Matcher, looks_like_credential, read_dockerignore, walk

# Reproducible-build convention (the zip epoch): any fixed value would do.
FIXED_MTIME = 315532800
TAG_LENGTH = 16
REQUIREMENTS_FILE = "requirements.txt"
SETUP_FILES = ("setup.py", "setup.cfg", "pyproject.toml")
GENERATED_REQUIREMENTS = "caliban-requirements.txt"


@dataclass(frozen=True)
class BuildRequest:
    """What to package. Paths are relative to ``cwd`` unless absolute (``cloud_key``).

    ``base_image`` None means the default for the mode (``gpu``).
    ``registry`` None keeps the image local (no push). ``generated_files`` are extra files
    (e.g. captured notebook code) written under the working directory in their own layer.
    ``requirements`` are pip requirement lines used when the project has no
    requirements.txt, setup.py or pyproject.toml. ``include`` lists files the user named
    explicitly: credential-looking files among them are packaged anyway. ``modules`` are
    local modules (``mylib.py``) and package directories (``mypkg``) a generated program
    imports, shipped beside it.
    """

    cwd: str
    target: Target | None
    dirs: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    gpu: bool = True
    base_image: str | None = None
    apt_packages: tuple[str, ...] = ()
    registry: str | None = None
    image_name: str = "caliban"
    cloud_key: str | None = None
    generated_files: Mapping[str, bytes] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    requirements: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    # The job executes a notebook: the image needs nbclient, nbformat and ipykernel.
    notebook_runtime: bool = False

    @property
    def resolved_base_image(self) -> str:
        return self.base_image or DEFAULT_BASE_IMAGES["gpu" if self.gpu else "cpu"]

    def repository(self) -> str:
        """The image repository: ``registry/image_name``, or ``image_name`` locally."""
        if self.registry:
            return f"{self.registry.rstrip('/')}/{self.image_name}"
        return self.image_name


@dataclass(frozen=True)
class Entry:
    """One tar member: a file on disk (``source``), in memory (``data``), or a directory."""

    arcname: str
    kind: str  # "file", "dir" or "symlink"
    source: str | None = None
    data: bytes | None = None
    size: int = 0
    executable: bool = False
    linkname: str = ""


@dataclass(frozen=True)
class ContextPlan:
    """A planned context: entries in archive order, the Dockerfile, and the tar's identity.

    ``files`` are the archive names of the packaged files (sorted); ``skipped_credentials``
    the cwd-relative paths left out because they look like credentials (a warning each).
    ``digest`` is the sha256 of the tar and ``tag`` the image it builds.
    """

    entries: tuple[Entry, ...]
    dockerfile: str
    spec: DockerfileSpec
    skipped_credentials: tuple[str, ...]
    digest: str
    size: int
    tag: str

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(e.arcname for e in self.entries if e.kind != "dir")

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(
            f"left {path} out of the image: it looks like a credential. If the job needs "
            "it, list it explicitly with --include (credentials should rather come from "
            "the job's service account)" for path in self.skipped_credentials
        )


class _HashingWriter(io.RawIOBase):
    """Hashes what tarfile writes and passes it on (or drops it when ``sink`` is None)."""

    def __init__(self, sink: IO[bytes] | None) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self._hash.update(b)
        if self._sink is not None:
            self._sink.write(b)
        n = len(b)
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _rel_within(cwd: str, path: str, what: str) -> str:
    """``path`` as a normalized POSIX path relative to ``cwd``, which it must lie under."""
    full = os.path.realpath(os.path.join(cwd, path))
    rel = os.path.relpath(full, cwd)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise UsageError(f"{what} {path!r} is outside the working directory {cwd}; caliban "
                         "packages only what lies under it. Move it there or cd higher up.")
    return PurePosixPath(rel).as_posix() if rel != "." else "."


def check_dirs(cwd: str, dirs: tuple[str, ...]) -> tuple[str, ...]:
    """The ``--dir`` paths relative to ``cwd``; each must be a directory under it."""
    cwd = os.path.realpath(cwd)
    out = tuple(_rel_within(cwd, d, "--dir") for d in dirs)
    for given, rel in zip(dirs, out, strict=True):
        if not os.path.isdir(os.path.join(cwd, rel)):
            raise UsageError(f"--dir {given!r} is not a directory under {cwd}; "
                             "pass an existing directory relative to the working directory")
    return out


def _check_generated_name(name: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or p.as_posix() in ("", "."):
        raise UsageError(f"generated file name {name!r} must be a relative path under the "
                         "working directory, without '..'")
    return p.as_posix()


def _is_under(rel: str, roots: tuple[str, ...]) -> bool:
    return any(r == "." or rel == r or rel.startswith(r + "/") for r in roots)


def _file_entry(arcname: str, source: str, st: os.stat_result) -> Entry:
    if stat.S_ISLNK(st.st_mode):
        return Entry(arcname, "symlink", linkname=os.readlink(source))
    if stat.S_ISDIR(st.st_mode):
        return Entry(arcname, "dir")
    return Entry(arcname, "file", source=source, size=st.st_size,
                 executable=bool(st.st_mode & 0o111))


def _with_parent_dirs(entries: dict[str, Entry], roots: tuple[str, ...]) -> list[Entry]:
    """Add directory entries for every parent (and each layer root), then sort."""
    for root in roots:
        entries.setdefault(root, Entry(root, "dir"))
    for name in list(entries):
        parent = PurePosixPath(name).parent
        while parent.as_posix() not in (".", "") and parent.as_posix() not in entries:
            entries[parent.as_posix()] = Entry(parent.as_posix(), "dir")
            parent = parent.parent
    return [entries[k] for k in sorted(entries)]


def _dependencies(req: BuildRequest, cwd: str, entries: dict[str, Entry],
                  ship: Callable[[str, str], None]
                  ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Add dependency files, and what they reference (``ship(rel, prefix)``), under
    ``deps/`` in the working directory's layout; return (requirements files to install,
    setup files, extras)."""
    from .dep_files import requirement_references, setup_references

    requirements: list[str] = []
    path = os.path.join(cwd, REQUIREMENTS_FILE)
    if os.path.isfile(path):
        requirements.append(REQUIREMENTS_FILE)
        entries[f"deps/requirements/{REQUIREMENTS_FILE}"] = _file_entry(
            f"deps/requirements/{REQUIREMENTS_FILE}", path, os.stat(path))
        files, paths = requirement_references(cwd, REQUIREMENTS_FILE)
        for rel in (*files[1:], *paths):
            ship(rel, "deps/requirements/")
    setup = [n for n in SETUP_FILES if os.path.isfile(os.path.join(cwd, n))]
    if not {"setup.py", "pyproject.toml"} & set(setup):
        setup = []  # a lone setup.cfg is not installable
    for name in setup:
        p = os.path.join(cwd, name)
        entries[f"deps/setup/{name}"] = _file_entry(f"deps/setup/{name}", p, os.stat(p))
    for rel in setup_references(cwd, tuple(setup)):
        ship(rel, "deps/setup/")
    if req.extras and not setup:
        raise UsageError(f"--extras {','.join(req.extras)} needs a setup.py or pyproject.toml "
                         f"in {cwd} that declares them; add one or drop --extras")
    extras = (("gpu" if req.gpu else "cpu"), *req.extras) if setup else ()
    if req.requirements and not requirements and not setup:
        data = ("\n".join(req.requirements) + "\n").encode()
        name = f"deps/requirements/{GENERATED_REQUIREMENTS}"
        entries[name] = Entry(name, "file", data=data, size=len(data))
        requirements.append(GENERATED_REQUIREMENTS)
    return tuple(requirements), tuple(setup), extras


def _select(req: BuildRequest) -> tuple[list[Entry], DockerfileSpec, tuple[str, ...]]:
    """Walk the working directory: the entries (sorted), Dockerfile spec, credentials left out."""
    cwd = os.path.realpath(req.cwd)
    if not os.path.isdir(cwd):
        raise UsageError(f"working directory {req.cwd!r} does not exist or is not a directory")
    matcher = Matcher(read_dockerignore(cwd))
    dirs = check_dirs(cwd, req.dirs)
    code_root: str | None = None
    if req.target is not None:
        code_root = req.target.package_root
        parts = PurePosixPath(req.target.path).parts
        if any(matcher.excluded("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            raise UsageError(f"{req.target.path} is excluded by .dockerignore (or a default "
                             "exclusion); the job could not run it. Fix .dockerignore.")
    entrypoint = req.entrypoint or (tuple(req.target.command()) if req.target else None)
    if not entrypoint:
        raise UsageError("nothing to run: give a target module/script or an entrypoint")

    never = {os.path.realpath(os.path.join(cwd, req.cloud_key))} if req.cloud_key else set()
    allowed = {os.path.realpath(os.path.join(cwd, p)) for p in req.include}
    skipped: set[str] = set()
    entries: dict[str, Entry] = {}

    def add(rel: str, st: os.stat_result, prefix: str, strip: str) -> None:
        source = os.path.join(cwd, rel)
        if stat.S_ISREG(st.st_mode):
            # realpath costs a few lstat calls per file: only when there is a list.
            real = os.path.realpath(source) if never or allowed else source
            if real in never:
                return
            if real not in allowed and looks_like_credential(source, st.st_size):
                skipped.add(rel)
                return
        inner = rel[len(strip) + 1:] if strip not in ("", ".") else rel
        entries[prefix + inner] = _file_entry(prefix + inner, source, st)

    def add_tree(start: str, prefix: str, strip: str, skip_under: tuple[str, ...]) -> None:
        for rel, st in walk(cwd, start, matcher):
            if not _is_under(rel, skip_under):
                add(rel, st, prefix, strip)

    def ship(rel: str, prefix: str) -> None:
        """A file or directory a dependency file references, under the same rules."""
        if matcher.excluded(rel):
            raise UsageError(f"{rel} is needed to install the dependencies (a requirements "
                             "or setup file names it) but .dockerignore (or a default "
                             "exclusion) leaves it out; fix .dockerignore")
        st = os.lstat(os.path.join(cwd, rel))
        add(rel, st, prefix, "")
        if stat.S_ISDIR(st.st_mode):
            add_tree(rel, prefix, "", ())

    roots: list[str] = []
    for i, d in enumerate(dirs):
        add_tree(d, f"dirs/{i}/", d, ())
        roots.append(f"dirs/{i}")
    if code_root is not None:
        add_tree(code_root, "code/", "", dirs)
        roots.append("code")
    elif req.modules:
        for module in req.modules:
            rel = _rel_within(cwd, module, "local module")
            if matcher.excluded(rel):
                raise UsageError(f"the code imports {rel}, which .dockerignore (or a default "
                                 "exclusion) leaves out of the image; the job could not "
                                 "import it. Fix .dockerignore.")
            full = os.path.join(cwd, rel)
            if os.path.isdir(full):
                add_tree(rel, "code/", "", dirs)
            else:
                entries[f"code/{rel}"] = _file_entry(f"code/{rel}", full, os.stat(full))
        roots.append("code")
    for name, data in sorted(req.generated_files.items()):
        arc = "gen/" + _check_generated_name(name)
        entries[arc] = Entry(arc, "file", data=bytes(data), size=len(data))
    if req.generated_files:
        roots.append("gen")
    requirements, setup, extras = _dependencies(req, cwd, entries, ship)
    spec = DockerfileSpec(
        base_image=req.resolved_base_image, entrypoint=tuple(entrypoint),
        apt_packages=tuple(req.apt_packages), requirements=requirements, setup_files=setup,
        extras=extras, dirs=dirs, code=code_root is not None or bool(req.modules),
        generated=bool(req.generated_files), notebook_runtime=req.notebook_runtime,
    )
    return _with_parent_dirs(entries, tuple(roots)), spec, tuple(sorted(skipped))


def _tarinfo(name: str, kind: str, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
                 "symlink": tarfile.SYMTYPE}[kind]
    info.size = size
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def add_entries(tar: tarfile.TarFile, entries: Iterable[Entry]) -> None:
    """Add ``entries`` to ``tar`` with fixed metadata (the same bytes for the same files)."""
    for e in entries:
        if e.kind == "dir":
            tar.addfile(_tarinfo(e.arcname, "dir", mode=0o755))
        elif e.kind == "symlink":
            info = _tarinfo(e.arcname, "symlink", mode=0o777)
            info.linkname = e.linkname
            tar.addfile(info)
        elif e.data is not None:
            tar.addfile(_tarinfo(e.arcname, "file", len(e.data)), io.BytesIO(e.data))
        else:
            assert e.source is not None
            info = _tarinfo(e.arcname, "file", e.size, 0o755 if e.executable else 0o644)
            # Streamed in chunks: large data files are never read whole into memory.
            with open(e.source, "rb") as f:
                tar.addfile(info, f)


def _write_tar(entries: list[Entry], dockerfile: str, sink: IO[bytes] | None) -> tuple[str, int]:
    out = _HashingWriter(sink)
    # GNU format: long names without PAX headers (whose content could vary).
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT,  # type: ignore[call-overload]
                      copybufsize=1 << 20) as tar:
        data = dockerfile.encode()
        tar.addfile(_tarinfo("Dockerfile", "file", len(data)), io.BytesIO(data))
        add_entries(tar, entries)
    return out.hexdigest(), out.tell()


def write_context(req: BuildRequest, fileobj: IO[bytes] | None) -> ContextPlan:
    """Select the files of ``req`` and write the context tar to ``fileobj`` (None: only hash).

    Raises
    ------
    UsageError
        A ``--dir`` outside the working directory or missing, a target excluded by
        ``.dockerignore``, ``--extras`` without setup.py/pyproject.toml, bad generated names.
    """
    from docker.utils.build import match_tag

    entries, spec, skipped = _select(req)
    dockerfile = render_dockerfile(spec)
    digest, size = _write_tar(entries, dockerfile, fileobj)
    tag = f"{req.repository()}:{digest[:TAG_LENGTH]}"
    if not match_tag(tag):
        raise UsageError(f"{tag!r} is not a valid image name: the registry "
                         f"({req.registry!r}) and image name ({req.image_name!r}) must be "
                         "lowercase letters, digits, '.', '_', '-' and '/' (e.g. "
                         "us-central1-docker.pkg.dev/PROJECT/REPO)")
    return ContextPlan(tuple(entries), dockerfile, spec, skipped, digest, size, tag)


def plan_context(req: BuildRequest) -> ContextPlan:
    """Plan the context of ``req`` without Docker: files, Dockerfile, warnings, hash, tag."""
    return write_context(req, None)

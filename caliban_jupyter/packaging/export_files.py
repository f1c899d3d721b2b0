"""The files of an exported job directory: what to copy, and writing it (or a zip) safely.

A directory is first written whole to a staging directory beside the target and checked
there; only then are its files moved into the target. So an export that fails leaves the
target as it was, and a non-empty target is written into only when the user says so.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from caliban_jupyter.errors import ExportError
from caliban_jupyter.packaging.export import SUBMIT, JobDirectory
from caliban_jupyter.packaging.ignore import Matcher, looks_like_credential, read_dockerignore, walk

__all__ = ["copy_paths", "merged_copies", "requirement_files", "stage", "write_directory",
           "zip_directory"]

# A fixed date for zip entries (the zip format starts in 1980): same export, same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_REFERENCE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)")


# ------------------------------------------------------------------------- what to copy

def copy_paths(cwd: str, paths: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The files ``paths`` (files, or directories: all under them) name, relative to
    ``cwd``, as an image would get them.

    ``.dockerignore`` and the default exclusions apply, and credential-looking files are
    left out (an export is made to be shared and committed).

    Returns
    -------
    copies, credentials
        Relative path -> source file, and the relative paths left out as credentials.
    """
    matcher = Matcher(read_dockerignore(cwd))
    copies: dict[str, str] = {}
    credentials: list[str] = []
    for path in paths:
        if os.path.isfile(os.path.join(cwd, path)):
            found = [(path, os.stat(os.path.join(cwd, path)))]
        else:
            found = list(walk(cwd, path, matcher))
        for rel, st in found:
            if not stat.S_ISREG(st.st_mode):
                continue  # directories come with their files; symlinks are not followed
            source = os.path.join(cwd, rel)
            if looks_like_credential(source, st.st_size):
                credentials.append(rel)
                continue
            copies[rel] = source
    return copies, sorted(credentials)


def requirement_files(cwd: str, name: str = "requirements.txt") -> dict[str, str]:
    """``requirements.txt`` and the files it references with ``-r``/``-c``, recursively."""
    copies: dict[str, str] = {}
    pending = [name]
    while pending:
        rel = pending.pop()
        path = Path(cwd, rel)
        if rel in copies or not path.is_file():
            continue
        copies[rel] = str(path)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _REFERENCE.match(line)
            if match and not re.match(r"^[a-z]+://", match.group(1)):
                ref = PurePosixPath(rel).parent / match.group(1)
                pending.append(os.path.normpath(ref.as_posix()))
    return copies


# ------------------------------------------------------------------------------ writing

def stage(job: JobDirectory, root: Path) -> None:
    """Write ``job`` under the (empty) directory ``root``."""
    for rel, data in job.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if rel == SUBMIT:
            path.chmod(0o755)
    for rel, source in job.copies.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, path)  # content and mode bits; never the owner


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def write_directory(job: JobDirectory, target: str | os.PathLike[str], *, force: bool = False,
                    confirm: Callable[[str], bool | None] | None = None,
                    check: Callable[[Path], None] | None = None) -> Path:
    """Write ``job`` into ``target``, never overwriting anything without consent.

    Parameters
    ----------
    job
        The directory's content.
    target
        The directory to write; created when missing.
    force
        Write into a non-empty ``target`` without asking: the files the export writes are
        replaced, every other file is left as it is.
    confirm
        Asks the user a yes/no question about a non-empty ``target``; returns ``None`` when
        it cannot ask (no terminal). Without it, a non-empty ``target`` is refused.
    check
        Called with the staged directory before anything is moved into ``target`` (the
        export validates it there as ``caliban cloud`` would); raising aborts the export.

    Raises
    ------
    ExportError
        ``target`` is a file, a path of the export is a directory there, or ``target`` is
        not empty and neither ``force`` nor the user allowed writing into it. Nothing was
        written then.
    """
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a directory; give a directory to "
                          "export into (it is created when missing)")
    for rel in job.paths():
        for part in [*reversed(PurePosixPath(rel).parents[:-1]), PurePosixPath(rel)]:
            there = target / part
            is_last = part == PurePosixPath(rel)
            if there.exists() and (there.is_dir() and not there.is_symlink()) == is_last:
                kind = "a directory" if is_last else "a file"
                raise ExportError(f"cannot export into {target}: {there} is {kind}, and the "
                                  f"export writes {rel} there. Move it away or choose another "
                                  "directory; nothing was written")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".caliban-export-", dir=target.parent))
    try:
        stage(job, staging)
        if check is not None:
            check(staging)
        existing = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
        if existing and not force:
            _consent(job, target, existing, confirm)
        target.mkdir(exist_ok=True)
        for rel in job.paths():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target / rel)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _consent(job: JobDirectory, target: Path, existing: list[str],
             confirm: Callable[[str], bool | None] | None) -> None:
    replaced = [rel for rel in job.paths() if (target / rel).exists()]
    what = (f"replacing {_listing(replaced)}" if replaced else "replacing no file")
    answer = confirm(f"{target} is not empty ({_listing(existing)}). Export into it, {what} "
                     "and leaving the other files as they are? [y/N] ") if confirm else None
    if answer is None:
        raise ExportError(f"{target} is not empty ({_listing(existing)}); nothing was "
                          "written. Pass --force to export into it anyway (the files the "
                          "export writes are replaced, others are left as they are), or "
                          "choose a new or empty directory.")
    if not answer:
        raise ExportError(f"export cancelled: nothing was written to {target}")


def zip_directory(job: JobDirectory, root: str) -> bytes:
    """``job`` as a zip archive whose entries are under ``root/`` (deterministic)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in job.paths():
            info = zipfile.ZipInfo(f"{root}/{rel}", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            if rel in job.files:
                data = job.files[rel]
                mode = 0o755 if rel == SUBMIT else 0o644
            else:
                source = job.copies[rel]
                data = Path(source).read_bytes()
                mode = 0o755 if os.stat(source).st_mode & 0o111 else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def merged_copies(*parts: Mapping[str, str]) -> dict[str, str]:
    """Copies from several sources; the first source of a path wins."""
    out: dict[str, str] = {}
    for part in parts:
        for rel, source in part.items():
            out.setdefault(rel, source)
    return out

"""Which files stay out of the image: .dockerignore, safe defaults, credentials.

Pattern matching is Docker's own (``docker.utils.build.PatternMatcher``, a port of moby's
fileutils: ``**``, ``!`` exceptions, leading ``/``), so a ``.dockerignore`` means here what
it means to ``docker build``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# Appended after the user's patterns, so a `!` line in .dockerignore cannot bring them back.
DEFAULT_EXCLUDES = (
    "**/.git",
    "**/__pycache__",
    "**/.ipynb_checkpoints",
    "**/*.pyc",
    "**/.venv",
    "**/venv",
    "**/.env",
    "**/.mypy_cache",
    "**/.pytest_cache",
    "**/.ruff_cache",
)

# Names that are private keys or credential stores whatever their content.
_CREDENTIAL_NAMES = frozenset({
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass", ".git-credentials",
    "application_default_credentials.json", "credentials.db", "access_tokens.db",
})
_CREDENTIAL_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore")
# Keys are small: sniffing only small files keeps large data directories cheap to scan.
_SNIFF_LIMIT = 64 * 1024


def read_dockerignore(cwd: str | os.PathLike[str]) -> list[str]:
    """The patterns of ``cwd/.dockerignore`` (comments and blank lines dropped)."""
    path = Path(cwd) / ".dockerignore"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


class Matcher:
    """Docker ignore patterns plus the safe defaults, matched on cwd-relative POSIX paths."""

    def __init__(self, patterns: Sequence[str]) -> None:
        # Imported here: the docker SDK pulls in requests, too heavy for package import.
        from docker.utils.build import PatternMatcher

        self._pm = PatternMatcher([*patterns, *DEFAULT_EXCLUDES])
        self._exceptions = [p.cleaned_pattern for p in self._pm.patterns if p.exclusion]

    def excluded(self, rel: str) -> bool:
        """True if ``rel`` (a file or directory) is ignored."""
        # PatternMatcher always re-includes .dockerignore (docker sends it); the image
        # has no use for it.
        return rel == ".dockerignore" or bool(self._pm.matches(rel))

    def may_contain_included(self, rel_dir: str) -> bool:
        """True if an excluded directory may still hold files a ``!`` pattern brings back."""
        prefix = rel_dir.rstrip("/") + "/"
        return any(p.startswith(prefix) or p == rel_dir for p in self._exceptions)


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def walk(cwd: str, start: str, matcher: Matcher) -> Iterator[tuple[str, os.stat_result]]:
    """Yield ``(relpath, lstat)`` for the files, symlinks and directories under ``start``.

    ``start`` is cwd-relative (``"."`` for all of it); ``relpath`` is POSIX and relative to
    ``cwd``. Ignored entries and virtual environments are skipped. Order is unspecified.
    """
    def rec(rel_dir: str) -> Iterator[tuple[str, os.stat_result]]:
        abs_dir = os.path.join(cwd, rel_dir) if rel_dir else cwd
        with os.scandir(abs_dir) as it:
            entries = list(it)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            st = entry.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir and _is_virtualenv(entry.path):
                continue
            if matcher.excluded(rel):
                if is_dir and matcher.may_contain_included(rel):
                    yield from rec(rel)
                continue
            if not (is_dir or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue  # sockets, FIFOs, devices: nothing an image can use
            yield rel, st
            if is_dir:
                yield from rec(rel)

    start = "" if start in ("", ".") else start.strip("/")
    yield from rec(start)


def _json_is_credential(data: bytes) -> bool:
    try:
        obj: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and (
        obj.get("type") in ("service_account", "authorized_user", "external_account")
        or "private_key" in obj
    )


def looks_like_credential(path: str, size: int) -> bool:
    """True for private keys and cloud credential files, judged by name and content."""
    name = os.path.basename(path)
    if name in _CREDENTIAL_NAMES or name.endswith(_CREDENTIAL_SUFFIXES):
        return True
    if size > _SNIFF_LIMIT or size == 0:
        return False
    try:
        with open(path, "rb") as f:
            data = f.read(_SNIFF_LIMIT)
    except OSError:
        return False
    if b"PRIVATE KEY-----" in data:
        return True
    return data.lstrip()[:1] == b"{" and _json_is_credential(data)

"""The files that dependency declarations point at, so they ship before pip needs them.

Dependencies are installed in early layers (for the build cache) from copies of the files
that declare them. Those files refer to others: a ``requirements.txt`` to ``-r base.txt``,
``-c constraints.txt``, ``-e ./localpkg``, ``--find-links ./wheels``; a ``setup.py`` to the
packages it lists (``packages=["mylib"]``, ``package_dir={"": "src"}``) and the files it
reads (``README.md``). Without them the install step fails. These functions name them, as
working-directory-relative POSIX paths; everything here reads files and nothing else.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import shlex
from pathlib import PurePosixPath

from ..errors import UsageError

_FILE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_PATH_OPTIONS = ("-e", "--editable", "-f", "--find-links")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_QUOTED = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'[^'\n]*')""")


def _logical_lines(text: str) -> list[str]:
    """pip's reading of a requirements file: continuations joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _inside(cwd: str, path: str) -> str | None:
    """``path`` (absolute) relative to ``cwd`` as POSIX, or None when outside it."""
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(cwd))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    return PurePosixPath(rel).as_posix()


def _local_path(token: str) -> str | None:
    """The filesystem path a requirement token names, or None (a name, a URL)."""
    token = token.split(";", 1)[0].strip()
    if token.startswith("file:"):
        token = re.sub(r"^file:(//)?", "", token)
    elif _URL.match(token) or "@" in token:
        return None
    token = re.sub(r"\[[^\]]*\]$", "", token)  # ./pkg[extra]
    if token.startswith((".", "/")) or "/" in token or os.sep in token:
        return token
    return None


def requirement_references(cwd: str, top: str) -> tuple[list[str], list[str]]:
    """The requirement files reached from ``top`` (itself first, then ``-r``/``-c`` files,
    recursively) and the local paths they install or search (``-e``, ``-f``, paths).

    Raises
    ------
    UsageError
        A ``-r``/``-c`` file that is missing or outside the working directory.
    """
    files: list[str] = []
    paths: list[str] = []
    queue = [top]
    while queue:
        rel = queue.pop(0)
        if rel in files:
            continue
        files.append(rel)
        here = os.path.dirname(os.path.join(cwd, rel))
        with open(os.path.join(cwd, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line in _logical_lines(text):
            try:
                tokens = shlex.split(line)
            except ValueError:
                continue  # pip reports a malformed line itself, with its number
            for option, value in _options(tokens):
                if option in _FILE_OPTIONS:
                    queue.append(_requirement_file(cwd, here, rel, option, value))
                else:
                    _add_path(cwd, value, paths)
            if tokens and not tokens[0].startswith("-"):
                _add_path(cwd, tokens[0], paths)
    return files, paths


def _options(tokens: list[str]) -> list[tuple[str, str]]:
    """``(option, value)`` of the file and path options on one line, in every spelling:
    ``-r x``, ``-rx``, ``--requirement x``, ``--requirement=x``."""
    out = []
    for i, token in enumerate(tokens):
        for option in (*_FILE_OPTIONS, *_PATH_OPTIONS):
            if token == option and i + 1 < len(tokens):
                out.append((option, tokens[i + 1]))
            elif option.startswith("--") and token.startswith(option + "="):
                out.append((option, token[len(option) + 1:]))
            elif not option.startswith("--") and token.startswith(option) \
                    and len(token) > len(option) and token[len(option)] != "-":
                out.append((option, token[len(option):].lstrip("=")))
    return out


def _requirement_file(cwd: str, here: str, parent: str, option: str, value: str) -> str:
    if _URL.match(value):
        raise UsageError(f"{parent}: {option} {value}: caliban ships only requirement files "
                         "under the working directory; download it next to the project")
    rel = _inside(cwd, os.path.join(here, value))
    if rel is None:
        raise UsageError(f"{parent}: {option} {value} is outside the working directory "
                         f"{cwd}; the image gets only what lies under it: move the file in")
    if not os.path.isfile(os.path.join(cwd, rel)):
        raise UsageError(f"{parent}: {option} {value}: no such file under {cwd}; create it "
                         "or remove the line")
    return rel


def _add_path(cwd: str, token: str, paths: list[str]) -> None:
    path = _local_path(token)
    if path is None or os.path.isabs(path):
        return  # a name, a URL, or a path on the machine the image is built for
    full = os.path.join(cwd, path)
    rel = _inside(cwd, full)
    if rel is not None and rel != "." and os.path.exists(full) and rel not in paths:
        paths.append(rel)


def setup_references(cwd: str, setup_files: tuple[str, ...]) -> list[str]:
    """Paths that ``setup.py``, ``setup.cfg`` or ``pyproject.toml`` name and that exist in
    the working directory: listed packages and modules, package dirs, files read for
    metadata. Names are read from the files' strings; what does not exist is ignored."""
    words: list[str] = []
    for name in setup_files:
        with open(os.path.join(cwd, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        if name == "setup.py":
            words += _python_strings(text)
        elif name == "setup.cfg":
            words += _cfg_words(text)
        else:
            words += [s[1:-1] for s in _QUOTED.findall(text)]
    out: list[str] = []
    for word in words:
        for candidate in _candidates(word.strip()):
            full = os.path.join(cwd, candidate)
            rel = _inside(cwd, full) if candidate and os.path.exists(full) else None
            if rel is not None and rel != "." and rel not in setup_files and rel not in out:
                out.append(rel)
                break
    return out


def _candidates(word: str) -> list[str]:
    """The paths a string may name: itself, a module's file, a package's top directory."""
    if not word or os.path.isabs(word) or _URL.match(word) or "\n" in word or len(word) > 200:
        return []
    out = [word]
    if re.fullmatch(r"[A-Za-z_][\w.]*", word):
        out += [word.split(".")[0], word + ".py"]
    return out


def _python_strings(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return [s[1:-1] for s in _QUOTED.findall(text)]
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _cfg_words(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return re.split(r"[\s,=]+", text)
    values = [v for section in parser.sections() for v in parser[section].values()]
    return [w.removeprefix("file:") for v in values for w in re.split(r"[\s,=]+", v) if w]

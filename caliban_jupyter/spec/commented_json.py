"""JSON with ``#`` and ``//`` line comments, as experiment configs are written.

Errors name the source, line and column; comments are blanked rather than removed, so
positions still point at the user's text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ExperimentConfigError

_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?:#|//)[^\n]*')


def strip_json_comments(text: str) -> str:
    """Blank out ``#`` and ``//`` line comments outside JSON strings.

    Comments become spaces rather than disappearing, so the line and column of any JSON
    error still point at the user's text.
    """

    def blank(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if s[0] == '"' else " " * len(s)

    return _STRING_OR_COMMENT.sub(blank, text)


def parse_commented_json(text: str, name: str = "<string>") -> Any:
    """Parse JSON that may hold line comments; errors name ``name``, line and column."""
    try:
        return json.loads(strip_json_comments(text), object_pairs_hook=_no_duplicate_keys,
                          parse_constant=lambda c: _reject_constant(c, name))
    except json.JSONDecodeError as e:
        raise ExperimentConfigError(
            f"{name}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
            "Fix the JSON there (only # and // line comments are allowed besides JSON)"
        ) from None


def _reject_constant(constant: str, name: str) -> Any:
    # Python's json accepts NaN and Infinity; they are not JSON and make no flag value.
    raise ExperimentConfigError(
        f"{name}: {constant} is not a valid experiment value (it is not standard JSON): "
        "write a finite number, or quote it as a string"
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads silently keeps the last of repeated keys, which would drop a sweep axis.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ExperimentConfigError(
                f"key {k!r} appears twice in one object of the experiment config: "
                "merge the values into one list, or use a list of objects for separate sweeps"
            )
        out[k] = v
    return out


def read_config_file(path: str, what: str) -> str:
    """The text of a config file; ``what`` names it in the messages (``experiment config``)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ExperimentConfigError(
            f"{what} {path!r} does not exist: pass the path of a JSON file"
            + (", or 'stdin' to read the config from standard input"
               if what == "experiment config" else "")
        ) from None
    except IsADirectoryError:
        raise ExperimentConfigError(
            f"{what} {path!r} is a directory: pass the path of a JSON file"
        ) from None
    except UnicodeDecodeError as e:
        raise ExperimentConfigError(
            f"{what} {path!r} is not UTF-8 text ({e.reason} at byte {e.start}): "
            "save it as UTF-8 JSON"
        ) from None
    except OSError as e:
        raise ExperimentConfigError(
            f"cannot read {what} {path!r}: {e.strerror or e}; "
            "check the path and its permissions"
        ) from None

"""Experiment configs: load JSON (with comments) and broadcast it into one dict per job.

The semantics are those of Google's ``caliban``:

- A config is a dict, or a list of dicts (nested lists are flattened); each dict is
  expanded on its own and the results are concatenated in order.
- In a dict, a list value is a set of alternatives and the dict expands to the cartesian
  product of all of them, the first key varying slowest. A scalar is a single alternative.
  ``{}`` is one job with no flags.
- A compound key ``"[a,b]"`` zips several flags: its value is a list of lists (one job per
  inner list, giving ``a`` and ``b`` in order) or a flat list (one job).
- Values are strings, numbers and booleans. ``true`` becomes a bare ``--flag`` and
  ``false`` omits the flag (see :func:`experiment_to_args`).
- A key is a flag name: ``lr`` gives ``--lr``. A key that already starts with ``-``
  (``--lr``, ``-v``) is the flag as written, never prefixed again.

Unlike caliban, an empty list value is an error rather than silently zero jobs, and
``null`` values are rejected (as caliban's validation did) because no command-line form of
"no value" exists.

Everything here is pure apart from :func:`load_experiment_config` reading its source.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from ..errors import ExperimentConfigError
from .commented_json import parse_commented_json as parse_commented_json
from .commented_json import read_config_file
from .commented_json import strip_json_comments as strip_json_comments

Scalar = str | int | float | bool
Experiment = dict[str, Scalar]
ExperimentConfig = dict[str, Any] | list[Any]

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "expand_experiment_config",
    "experiment_to_args",
    "load_experiment_config",
    "validate_experiment_config",
]

# A JSON string (kept as is) or a `#` / `//` comment running to the end of the line.
# Matching strings first is what keeps "http://x" and "#tag" inside strings intact.
# A plain flag name: no whitespace, commas or brackets (caliban's rule).
_NAME = r"[^\s,\[\]]+"
_SIMPLE_KEY = re.compile(rf"\A{_NAME}\Z")
_COMPOUND_KEY = re.compile(rf"\A\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\]\Z")
_SCALARS = (str, int, float, bool)
_ALLOWED_VALUES = "a string, number or boolean, or a list of them"


# ---------------------------------------------------------------------------- loading


def load_experiment_config(
    source: str | os.PathLike[str] | ExperimentConfig, *, stdin: TextIO | None = None
) -> ExperimentConfig:
    """Load and validate an experiment config.

    Parameters
    ----------
    source
        A path to a JSON file, the string ``"stdin"`` (any case) to read ``stdin``, or an
        already parsed dict or list. ``#`` and ``//`` line comments are allowed in JSON.
    stdin
        The stream read for ``"stdin"``; defaults to :data:`sys.stdin`.

    Returns
    -------
    dict or list
        The parsed config, validated but not expanded.

    Raises
    ------
    ExperimentConfigError
        The file is missing or unreadable, the JSON is invalid (the message names the
        file, line and column), or the config's structure is invalid.
    """
    if isinstance(source, (dict, list)):
        return validate_experiment_config(source)
    if isinstance(source, str) and source.lower() == "stdin":
        name = "stdin"
        text = (stdin if stdin is not None else sys.stdin).read()
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        text = read_config_file(name, "experiment config")
    else:
        raise ExperimentConfigError(
            f"an experiment config is a dict, a list of dicts, or the path of a JSON file, "
            f"not a {type(source).__name__}: write e.g. {{\"lr\": [0.1, 0.01]}}")
    return validate_experiment_config(parse_commented_json(text, name))


# ------------------------------------------------------------------------- validation


def validate_experiment_config(config: Any) -> ExperimentConfig:
    """Check a parsed config without expanding it; return it unchanged.

    Raises
    ------
    ExperimentConfigError
        Naming the offending entry and key and saying what is allowed.
    """
    if not isinstance(config, (dict, list)):
        raise ExperimentConfigError(
            f"the experiment config must be a JSON object or a list of objects, "
            f"not {_json_type(config)}: write e.g. {{\"lr\": [0.1, 0.01]}}"
        )
    count = 0
    for where, entry in _entries(config, ""):
        _compile_axes(entry, where)
        count += 1
    if count == 0:
        raise ExperimentConfigError(
            "the experiment config is an empty list, which would run no jobs: "
            "give at least one object ({} runs one job with no extra flags)"
        )
    return config


def _entries(config: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every dict of a (possibly nested) list, with its position for messages."""
    if isinstance(config, dict):
        yield where, config
    elif isinstance(config, list):
        for i, item in enumerate(config):
            yield from _entries(item, f"{where}[{i}]")
    else:
        raise ExperimentConfigError(
            f"entry {where} of the experiment config is {_json_type(config)}: every entry "
            "of a config list must be an object (or a list of objects)"
        )


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, float) and not math.isfinite(v):
        return f"the non-finite number {v}"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return f"a {type(v).__name__}"


def _is_scalar(v: Any) -> bool:
    # NaN and infinities are floats, but no JSON value and no usable flag value.
    return isinstance(v, _SCALARS) and not (isinstance(v, float) and not math.isfinite(v))


# An axis is (flag names, alternatives); each alternative is a tuple of one value per name.
Axis = tuple[tuple[str, ...], list[tuple[Scalar, ...]]]


def _compile_axes(entry: dict[str, Any], where: str) -> list[Axis]:
    """Turn one config dict into sweep axes, validating keys and values on the way."""
    at = f" in entry {where}" if where else ""
    axes: list[Axis] = []
    seen: dict[str, str] = {}
    for key, value in entry.items():
        if not isinstance(key, str):
            raise ExperimentConfigError(f"key {key!r}{at} is not a string: keys are flag names")
        if _SIMPLE_KEY.match(key):
            names: tuple[str, ...] = (key,)
            alternatives = _simple_alternatives(key, value, at)
        elif _COMPOUND_KEY.match(key):
            names = tuple(n.strip() for n in key[1:-1].split(","))
            alternatives = _compound_alternatives(key, names, value, at)
        else:
            raise ExperimentConfigError(
                f"key {key!r}{at} is invalid: a key is a flag name without spaces, commas or "
                "brackets (e.g. \"learning_rate\"), or a compound key of such names in "
                "brackets (e.g. \"[batch_size,learning_rate]\")"
            )
        for name in names:
            if not name.strip("-"):
                raise ExperimentConfigError(
                    f"key {key!r}{at} is only dashes: a key is a flag name, e.g. \"lr\" "
                    "(which gives --lr)")
            flag = name if name.startswith("-") else f"--{name}"  # "lr" and "--lr" clash
            if flag in seen:
                raise ExperimentConfigError(
                    f"flag {name!r}{at} is given by both {seen[flag]!r} and {key!r}: "
                    "give each flag in only one key"
                )
            seen[flag] = key
        axes.append((names, alternatives))
    return axes


def _simple_alternatives(key: str, value: Any, at: str) -> list[tuple[Scalar, ...]]:
    if _is_scalar(value):
        return [(value,)]
    if isinstance(value, list):
        if not value:
            raise ExperimentConfigError(
                f"key {key!r}{at} has an empty list, which would expand to zero jobs: "
                "give at least one value, or remove the key"
            )
        for v in value:
            if not _is_scalar(v):
                hint = (
                    f"; to set several flags together use a compound key like \"[{key},other]\""
                    if isinstance(v, list)
                    else ""
                )
                raise ExperimentConfigError(
                    f"key {key!r}{at} has a list holding {_json_type(v)}: list items must be "
                    f"strings, numbers or booleans{hint}"
                )
        return [(v,) for v in value]
    raise ExperimentConfigError(
        f"key {key!r}{at} has {_json_type(value)} as its value: a value must be "
        f"{_ALLOWED_VALUES} (nested objects are not flags)"
    )


def _compound_alternatives(
    key: str, names: tuple[str, ...], value: Any, at: str
) -> list[tuple[Scalar, ...]]:
    arity = len(names)
    shape = f"a list of {arity} values, or a list of such lists"
    if not isinstance(value, list) or not value:
        what = "an empty list" if value == [] else _json_type(value)
        raise ExperimentConfigError(
            f"compound key {key!r}{at} has {what} as its value: it needs {shape}"
        )
    rows = value if isinstance(value[0], list) else [value]
    for row in rows:
        if not isinstance(row, list) or not all(_is_scalar(v) for v in row):
            raise ExperimentConfigError(
                f"compound key {key!r}{at} has a malformed value {json.dumps(row)}: it needs "
                f"{shape}, each value a string, number or boolean"
            )
        if len(row) != arity:
            raise ExperimentConfigError(
                f"compound key {key!r}{at} names {arity} flags but {json.dumps(row)} has "
                f"{len(row)} values: give exactly one value per flag"
            )
    return [tuple(row) for row in rows]


# -------------------------------------------------------------------------- expansion


def expand_experiment_config(config: ExperimentConfig) -> list[Experiment]:
    """Expand a config into one flat dict per job, in caliban's order.

    Parameters
    ----------
    config
        A dict, or a list (possibly nested) of dicts, as loaded by
        :func:`load_experiment_config`.

    Returns
    -------
    list of dict
        One dict per job, keys in the config's order (a compound key's names where the
        compound key stood), the first key varying slowest.

    Raises
    ------
    ExperimentConfigError
        If the config is invalid (see :func:`validate_experiment_config`).

    Examples
    --------
    >>> expand_experiment_config({"a": [1, 2], "[b,c]": [[3, 4], [5, 6]], "d": True})
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'a': 1, 'b': 3, 'c': 4, 'd': True}, {'a': 1, 'b': 5, 'c': 6, 'd': True},
     {'a': 2, 'b': 3, 'c': 4, 'd': True}, {'a': 2, 'b': 5, 'c': 6, 'd': True}]
    """
    validate_experiment_config(config)
    out: list[Experiment] = []
    for where, entry in _entries(config, ""):
        out.extend(_expand_entry(_compile_axes(entry, where)))
    return out


def _expand_entry(axes: list[Axis]) -> list[Experiment]:
    names = tuple(n for axis_names, _ in axes for n in axis_names)
    alternatives = [alts for _, alts in axes]
    # Each job is a fresh dict built straight from the product tuple: no copying of a
    # template per job, which is what keeps 20,000 jobs in the tens of milliseconds.
    if all(len(axis_names) == 1 for axis_names, _ in axes):
        flat = [[alt[0] for alt in alts] for alts in alternatives]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*flat)]
    chain = itertools.chain.from_iterable
    combos = itertools.product(*alternatives)
    return [dict(zip(names, chain(combo), strict=True)) for combo in combos]


# --------------------------------------------------------------------------- to flags


def experiment_to_args(
    experiment: dict[str, Any], script_args: Sequence[str] = ()
) -> list[str]:
    """The command-line arguments of one job.

    Parameters
    ----------
    experiment
        One expanded experiment (flag name -> value).
    script_args
        Fixed arguments placed before the experiment's flags.

    Returns
    -------
    list of str
        ``script_args``, then ``--key value`` per key in the experiment's order (a key that
        starts with ``-`` is used as written: ``--lr`` stays ``--lr``). ``True`` gives a
        bare flag, ``False`` omits the key (caliban's rule). Other values are rendered with
        ``str``.

    Raises
    ------
    ExperimentConfigError
        For a ``None`` value (caliban rejects ``null``: a flag cannot say "no value") or a
        value that is not a string, number or boolean.
    """
    args = list(script_args)
    for key, value in experiment.items():
        flag = key if key.startswith("-") else f"--{key}"
        if value is True:
            args.append(flag)
        elif value is False:
            continue
        elif isinstance(value, (str, int, float)):
            args.append(flag)
            args.append(str(value))
        else:
            raise ExperimentConfigError(
                f"experiment key {key!r} has {_json_type(value)} as its value, which has no "
                "command-line form: use a string, number or boolean (false omits the flag)"
            )
    return args

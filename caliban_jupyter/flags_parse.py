"""Parsing flags given as text or as keywords, for the front ends that cannot exit.

:class:`MagicParser` parses a magic's line, nbconvert's ``flags`` trait or a REST request
with the definitions of :mod:`caliban_jupyter.flags`, raising :class:`UsageError` instead
of exiting; :func:`namespace_from_options` turns the API's and the server's keyword
options into the namespace the same parser would produce, so every front end accepts
exactly the CLI's flags and validates them in one place.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from .errors import UsageError


class MagicParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        # --help/--helpfull printed their text already; stop the magic without an error.
        if message:
            print(message)
        raise HelpShown()


class HelpShown(Exception):
    """Raised after the parser printed help: the magic returns quietly."""


def command_parser(prog: str, add_arguments: Callable[[argparse.ArgumentParser], None]
                   ) -> MagicParser:
    """A parser for a line magic from a command's flags (``flags.COMMAND_FLAGS[name]``)."""
    p = MagicParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def split_line(line: str) -> tuple[list[str], list[str]]:
    """Split a magic line into (flags, script args after the first ``--``)."""
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError as e:  # unbalanced quotes
        raise UsageError(f"cannot parse the magic's line: {e}") from None
    if "--" in tokens:
        cut = tokens.index("--")
        return tokens[:cut], tokens[cut + 1:]
    return tokens, []


def parse_line(parser: MagicParser, line: str) -> argparse.Namespace:
    """Parse ``line`` (already variable-expanded by IPython) with ``parser``."""
    flags, script_args = split_line(line)
    args = parser.parse_args(flags)
    args.script_args = script_args
    args._argv = flags
    return args


def dests(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Keyword option name -> action, for every flag a user may pass (help excluded)."""
    out = {}
    for action in parser._actions:
        if action.dest in ("help", "helpfull") or action.dest == argparse.SUPPRESS:
            continue
        if not action.option_strings:
            continue
        out[action.dest] = action
    return out


def _json_dests() -> set[str]:
    """The dests whose keyword value may be any JSON (``experiment_config={...}``)."""
    from .spec.flag_schema import flags

    return {f.argdest for f in flags("api") if f.type == "json"}


def _aliases() -> dict[str, str]:
    """Keyword spellings that differ from the parser's dest, from the flag schema (plural
    forms read naturally in Python: dirs=["data"], labels={"team": "x"}; env={"K": "v"} is
    --env, whose dest job_env keeps it apart from the process environment a CloudRequest
    carries)."""
    from .spec.flag_schema import flags

    return {f.name: f.argdest for f in flags("api") if f.argdest != f.name}


def namespace_from_options(parser: argparse.ArgumentParser, options: Mapping[str, Any],
                           *, what: str) -> argparse.Namespace:
    """The namespace ``parser`` would produce for flags given as keyword ``options``.

    Values are checked as the parser would (choices, repeatable flags accept one value or a
    list); an unknown option raises one :class:`UsageError` listing the valid ones.
    """
    actions = dests(parser)
    aliases, json_dests = _aliases(), _json_dests()
    ns = argparse.Namespace(**{d: a.default for d, a in actions.items()})
    for key, value in options.items():
        dest = aliases.get(key, key)
        action = actions.get(dest)
        if action is None:
            valid = ", ".join(sorted(actions))
            raise UsageError(f"{what}: unknown option {key!r}. Valid options: {valid}")
        if isinstance(action, argparse._AppendAction):
            if isinstance(value, Mapping):  # labels={"k": "v"}
                value = [f"{k}={v}" for k, v in value.items()]
            elif isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                value = [value]
            value = [str(v) for v in value]
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise UsageError(f"{what}: option {key!r} takes True or False, not {value!r}")
        elif value is not None and action.choices is not None and value not in action.choices:
            allowed = ", ".join(map(repr, action.choices))
            raise UsageError(f"{what}: option {key!r} must be one of {allowed}, not {value!r}")
        elif value is not None and dest not in json_dests and not isinstance(
                value, (str, int, float)):
            raise UsageError(f"{what}: option {key!r} takes a string, not "
                             f"{type(value).__name__}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and dest not in json_dests:
            value = str(value)
        setattr(ns, dest, value)
    return ns

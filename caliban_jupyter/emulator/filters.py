"""The ``filter`` of ``customJobs.list``: a subset of Google's AIP-160 syntax. Pure.

Supported, as documented for ``projects.locations.customJobs.list``:

- ``display_name="x"``, ``display_name!="x"``, ``display_name:"x_*"`` (``*`` is a wildcard)
- ``state=JOB_STATE_SUCCEEDED``, ``state!="JOB_STATE_FAILED"`` (quoted or bare)
- ``create_time>"2021-05-18T00:00:00Z"`` (also ``update_time``, ``start_time``,
  ``end_time``; ``= != < <= > >=``; RFC 3339)
- ``labels.key="value"``, ``labels.key!="value"``, ``labels.key:*`` (key exists)
- ``AND``, ``OR``, ``NOT`` (or ``-``), parentheses; terms side by side mean AND.

Anything else is an ``INVALID_ARGUMENT`` error naming the problem.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .resources import parse_rfc3339
from .rpc import JOB_STATES, ApiError

# A job as the filter sees it: display_name, state (name), labels and *_time (epoch s).
Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))
      | (?P<op>!=|<=|>=|=|<|>|:)
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | '(?P<sq>(?:[^'\\]|\\.)*)'
      | (?P<word>[^\s()=!<>:"']+)
    )""",
    re.VERBOSE,
)
_TIME_FIELDS = ("create_time", "update_time", "start_time", "end_time")
_SYNTAX_HELP = (
    'Supported: display_name="x", state=JOB_STATE_X, labels.KEY="v", labels.KEY:*, '
    'create_time>"2024-01-01T00:00:00Z", joined by AND, OR, NOT and parentheses.'
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # lp rp op str word
    text: str


def _bad(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", f"Invalid filter: {message}. {_SYNTAX_HELP}")


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _bad(f"unexpected character {text[pos:].strip()[:1]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind in ("dq", "sq"):
            raw = m.group(kind)
            out.append(_Tok("str", re.sub(r"\\(.)", r"\1", raw)))
        else:
            out.append(_Tok(kind, m.group(kind)))
    return out


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _bad("the filter ends too early")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise _bad(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return pred

    def or_expr(self) -> Predicate:
        preds = [self.and_expr()]
        while (tok := self.peek()) and tok.kind == "word" and tok.text == "OR":
            self.take()
            preds.append(self.and_expr())
        return preds[0] if len(preds) == 1 else (lambda r: any(p(r) for p in preds))

    def and_expr(self) -> Predicate:
        preds = [self.unary()]
        while (tok := self.peek()) and not (tok.kind == "rp" or tok.text == "OR"):
            if tok.kind == "word" and tok.text == "AND":
                self.take()
            preds.append(self.unary())
        return preds[0] if len(preds) == 1 else (lambda r: all(p(r) for p in preds))

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok and tok.kind == "word" and (tok.text == "NOT" or tok.text == "-"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if tok and tok.kind == "word" and tok.text.startswith("-") and len(tok.text) > 1:
            self.toks[self.i] = _Tok("word", tok.text[1:])
            inner = self.unary()
            return lambda r: not inner(r)
        if tok and tok.kind == "lp":
            self.take()
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != "rp":
                raise _bad("missing ')'")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        field = self.take()
        if field.kind != "word" or field.text in ("AND", "OR"):
            raise _bad(f"expected a field name, got {field.text!r}")
        op = self.take()
        if op.kind != "op":
            raise _bad(f"expected an operator after {field.text!r}, got {op.text!r}")
        value = self.take()
        if value.kind not in ("str", "word"):
            raise _bad(f"expected a value after {field.text}{op.text}")
        return _compare(field.text, op.text, value)


def _match_text(op: str, actual: str | None, expected: str) -> bool:
    if actual is None:
        return op == "!="
    hit = fnmatch.fnmatchcase(actual, expected) if "*" in expected else actual == expected
    return not hit if op == "!=" else hit


def _compare(field: str, op: str, value: _Tok) -> Predicate:
    text = value.text
    if field in ("display_name", "displayName"):
        if op not in ("=", "!=", ":"):
            raise _bad(f"display_name supports =, != and :, not {op}")
        return lambda r: _match_text(op, r.get("display_name"), text)
    if field == "state":
        if op not in ("=", "!="):
            raise _bad(f"state supports = and !=, not {op}")
        if text not in JOB_STATES:
            raise _bad(f"unknown state {text!r}; states are {', '.join(JOB_STATES)}")
        return lambda r: (r.get("state") == text) == (op == "=")
    if field in _TIME_FIELDS or field in ("createTime", "updateTime", "startTime", "endTime"):
        key = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), field)
        if op == ":":
            raise _bad(f"{field} supports = != < <= > >=, not :")
        try:
            when = parse_rfc3339(text)
        except ValueError:
            raise _bad(f"{field} needs an RFC 3339 time such as "
                       f'"2024-01-01T00:00:00Z", not {text!r}') from None
        ops: dict[str, Callable[[float, float], bool]] = {
            "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        }
        cmp = ops[op]
        return lambda r: r.get(key) is not None and cmp(r[key], when)
    if field.startswith("labels.") and len(field) > len("labels."):
        label = field[len("labels."):]
        if op == ":" and text == "*":
            return lambda r: label in (r.get("labels") or {})
        if op not in ("=", "!=", ":"):
            raise _bad(f"labels support =, != and :*, not {op}")
        return lambda r: _match_text(op, (r.get("labels") or {}).get(label), text)
    raise _bad(f"unsupported field {field!r}")


def compile_filter(text: str | None) -> Predicate:
    """A predicate over job records for ``text``; everything matches an empty filter.

    Raises
    ------
    ApiError
        ``INVALID_ARGUMENT`` when the filter cannot be parsed.
    """
    if not text or not text.strip():
        return lambda r: True
    return _Parser(_tokens(text)).parse()

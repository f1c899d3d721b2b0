"""The list filter of the emulator (AIP-160 subset), as pure predicates."""

from __future__ import annotations

import pytest

from caliban_jupyter.emulator.filters import compile_filter
from caliban_jupyter.emulator.resources import parse_rfc3339
from caliban_jupyter.emulator.rpc import ApiError

JOBS = {
    "a": {"display_name": "train-a", "state": "JOB_STATE_RUNNING",
          "labels": {"group": "g1", "index": "1"},
          "create_time": parse_rfc3339("2024-05-01T00:00:00Z")},
    "b": {"display_name": "train-b", "state": "JOB_STATE_SUCCEEDED",
          "labels": {"group": "g1", "index": "2"},
          "create_time": parse_rfc3339("2024-06-01T00:00:00Z")},
    "c": {"display_name": "eval", "state": "JOB_STATE_FAILED", "labels": {},
          "create_time": parse_rfc3339("2024-07-01T12:30:00+02:00")},
}


def matching(text: str) -> set[str]:
    predicate = compile_filter(text)
    return {key for key, record in JOBS.items() if predicate(record)}


@pytest.mark.parametrize(("text", "expected"), [
    ("", {"a", "b", "c"}),
    ("   ", {"a", "b", "c"}),
    ('labels.group="g1"', {"a", "b"}),
    ("labels.group=g1", {"a", "b"}),
    ("labels.index:*", {"a", "b"}),
    ('labels.index!="1"', {"b", "c"}),
    ('labels.group="g1" AND labels.index="2"', {"b"}),
    ('labels.group="g1" labels.index="2"', {"b"}),
    ("state=JOB_STATE_RUNNING", {"a"}),
    ('state="JOB_STATE_FAILED"', {"c"}),
    ("state!=JOB_STATE_RUNNING", {"b", "c"}),
    ("NOT state=JOB_STATE_RUNNING", {"b", "c"}),
    ("-state=JOB_STATE_RUNNING", {"b", "c"}),
    ('display_name="eval"', {"c"}),
    ('display_name:"train-*"', {"a", "b"}),
    ('display_name="train-a" OR display_name="eval"', {"a", "c"}),
    ('(state=JOB_STATE_FAILED OR state=JOB_STATE_RUNNING) AND labels.group:*', {"a"}),
    ('create_time>"2024-05-15T00:00:00Z"', {"b", "c"}),
    ('create_time<="2024-06-01T00:00:00Z"', {"a", "b"}),
    ('create_time="2024-07-01T10:30:00Z"', {"c"}),
    ('display_name="quote \\" inside"', set()),
])
def test_filters(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("labels.a==", "expected a value"),
    ("state=RUNNING", "unknown state"),
    ("state<JOB_STATE_RUNNING", "state supports"),
    ("colour=red", "unsupported field"),
    ("(state=JOB_STATE_RUNNING", "missing ')'"),
    ("state=JOB_STATE_RUNNING)", "unexpected ')'"),
    ('create_time>"tomorrow"', "RFC 3339"),
    ("labels.=x", "unsupported field"),
    ("AND", "expected a field"),
    ('display_name="x', "unexpected character"),
    ("display_name", "ends too early"),
])
def test_bad_filters_are_invalid_argument(text: str, problem: str) -> None:
    with pytest.raises(ApiError) as info:
        compile_filter(text)
    assert info.value.status == "INVALID_ARGUMENT" and info.value.http_status == 400
    assert problem in info.value.message
    assert "Supported:" in info.value.message  # says what to write instead

"""Label sanitization, labels from flags, precedence and Vertex's limits."""

from __future__ import annotations

import re

import pytest

from caliban_jupyter.errors import LabelError, UsageError
from caliban_jupyter.spec.labels import (
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    build_labels,
    build_labels_and_notes,
    labels_from_args,
    parse_label_flags,
    sanitize_key,
    sanitize_value,
)

VALID_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VALID_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


# ------------------------------------------------------------------------ sanitizing


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Learning.Rate", "learning_rate"),
        ("--lr", "lr"),
        ("a b/c!", "abc"),
        ("1st", "k1st"),
        ("_x", "k_x"),
        ("-_x", "k_x"),
        ("ÄÖ", ""),
        ("", ""),
        ("keep-dash_and_9", "keep-dash_and_9"),
    ],
)
def test_sanitize_key(raw, expected):
    assert sanitize_key(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("0.01", "0_01"),
        ("-0.5", "-0_5"),
        ("--x", "--x"),
        ("Hello World!", "helloworld"),
        ("", ""),
        (None, ""),
        ("gs://bucket/path", "gsbucketpath"),
    ],
)
def test_sanitize_value(raw, expected):
    assert sanitize_value(raw) == expected


def test_lengths_are_capped():
    assert len(sanitize_key("a" * 100)) == MAX_LABEL_LENGTH
    assert len(sanitize_key("9" * 100)) == MAX_LABEL_LENGTH  # after the "k" prefix
    assert sanitize_key("9" * 100).startswith("k")
    assert len(sanitize_value("v" * 100)) == MAX_LABEL_LENGTH


@pytest.mark.parametrize("raw", ["", "A.B-C", "--9.x", "✓ok", "Z" * 80, "_", "...", "a=b"])
def test_sanitized_output_is_always_valid(raw):
    key = sanitize_key(raw)
    assert key == "" or VALID_KEY.match(key)
    assert VALID_VALUE.match(sanitize_value(raw))


# -------------------------------------------------------------------------- --label


def test_parse_label_flags():
    assert parse_label_flags(["team=ml", "a=b=c", "empty="]) == [
        ("team", "ml"),
        ("a", "b=c"),
        ("empty", ""),
    ]


def test_parse_label_flags_missing_equals():
    with pytest.raises(UsageError) as e:
        parse_label_flags(["ok=1", "oops"])
    assert "'oops'" in str(e.value)
    assert "KEY=VALUE" in str(e.value)
    assert "--label oops=VALUE" in str(e.value)


def test_parse_label_flags_empty_key():
    with pytest.raises(UsageError, match="empty key"):
        parse_label_flags(["=v"])


# --------------------------------------------------------------------- from args


def test_labels_from_args_forms():
    args = ["pos", "--lr", "0.1", "--verbose", "--depth=3", "--neg", "-0.5", "--last"]
    assert labels_from_args(args) == [
        ("lr", "0.1"),
        ("verbose", ""),
        ("depth", "3"),
        ("neg", "-0.5"),
        ("last", ""),
    ]


def test_labels_from_args_ignores_positionals_and_after_double_dash():
    assert labels_from_args(["a", "b", "-v", "--", "--x", "1"]) == [("v", "")]


def test_labels_from_args_negative_exponent_value():
    assert labels_from_args(["--eps", "-1e-3", "-k"]) == [("eps", "-1e-3"), ("k", "")]


def test_labels_from_args_empty():
    assert labels_from_args([]) == []


# ----------------------------------------------------------------------- building


def _build(**kw):
    base = dict(
        job_name="My.Job",
        gpu_enabled=True,
        tpu_enabled=False,
        xgroup="Sweep-1",
        args=[],
        user_labels=[],
    )
    base.update(kw)
    return build_labels(**base)


def test_automatic_labels_first_and_sanitized():
    labels = _build(extra={"submission": "ABC.1", "job_index": "3"})
    assert list(labels.items()) == [
        ("job_name", "my_job"),
        ("gpu_enabled", "true"),
        ("tpu_enabled", "false"),
        ("xgroup", "sweep-1"),
        ("submission", "abc_1"),
        ("job_index", "3"),
    ]


def test_xgroup_none_is_omitted():
    assert "xgroup" not in _build(xgroup=None)


def test_args_then_user_labels_in_order():
    labels = _build(args=["--lr", "0.01", "--v"], user_labels=[("Team", "ML")])
    assert list(labels)[-3:] == ["lr", "v", "team"]
    assert labels["lr"] == "0_01"
    assert labels["v"] == ""
    assert labels["team"] == "ml"


def test_user_label_overrides_flag_with_same_key():
    labels = _build(args=["--lr", "0.1"], user_labels=[("lr", "custom")])
    assert labels["lr"] == "custom"


@pytest.mark.parametrize("raw_key", ["xgroup", "XGroup", "job.name", "job_name",
                                     "Caliban_Index", "caliban_sid", "gpu_enabled",
                                     "tpu.enabled"])
def test_label_flag_may_not_set_a_reserved_label(raw_key):
    """`-l xgroup=mine` used to move the job out of its group (and `-l job_name=...` to
    relabel it): any --label whose key sanitizes to a reserved one is refused."""
    with pytest.raises(LabelError) as e:
        _build(user_labels=[(raw_key, "mine")], extra={"caliban_index": "1"})
    msg = str(e.value)
    assert f"--label {raw_key}=mine" in msg
    assert "reserved: job_name, gpu_enabled, tpu_enabled, xgroup, caliban_index, " \
           "caliban_sid" in msg
    assert "use another key" in msg


def test_reserved_label_messages_name_the_flag_to_use():
    with pytest.raises(LabelError, match="choose the group with --xgroup"):
        _build(user_labels=[("xgroup", "mine")])
    with pytest.raises(LabelError, match="choose the name with --name"):
        _build(user_labels=[("job_name", "mine")])


def test_flag_with_a_reserved_name_keeps_the_automatic_label_and_says_so():
    labels, notes = build_labels_and_notes(
        job_name="j", gpu_enabled=False, tpu_enabled=False, xgroup="g1",
        args=["--xgroup", "fromflag", "--job_name", "x", "--lr", "0.1"], user_labels=[])
    assert labels["xgroup"] == "g1" and labels["job_name"] == "j" and labels["lr"] == "0_1"
    assert notes == [
        "flag --xgroup is not a label: 'xgroup' is set by caliban itself (the flag still "
        "reaches the program)",
        "flag --job_name is not a label: 'job_name' is set by caliban itself (the flag still "
        "reaches the program)",
    ]


def test_every_changed_or_dropped_label_is_reported_once():
    labels, notes = build_labels_and_notes(
        job_name="Run", gpu_enabled=False, tpu_enabled=False, xgroup="g1",
        args=["--lr", "0.01", "--path", "/data/a.csv"],
        user_labels=[("ключ", "значение"), ("émoji", "x"), ("a", "b=c"), ("long", "v" * 70),
                     ("team", "ml.1")])
    assert labels["moji"] == "x" and labels["a"] == "bc" and labels["long"] == "v" * 63
    assert labels["lr"] == "0_01" and labels["team"] == "ml_1"  # '.' -> '_' is the rule
    assert "ключ" not in str(labels)
    assert notes == [
        "label 'job_name=Run' (--name) became 'job_name=run': lowercased",
        "label 'path=/data/a.csv' (script args) became 'path=dataa_csv': dropped '/' (Vertex "
        "AI labels allow only lowercase letters, digits, '_' and '-')",
        "label 'ключ=значение' (--label) dropped: no character of its key is allowed in a "
        "Vertex AI label key (lowercase letters, digits, '_' and '-')",
        "label 'émoji=x' (--label) became 'moji=x': dropped 'é' (Vertex AI labels allow "
        "only lowercase letters, digits, '_' and '-')",
        "label 'a=b=c' (--label) became 'a=bc': dropped '=' (Vertex AI labels allow only "
        "lowercase letters, digits, '_' and '-')",
        f"label 'long={'v' * 54}…' (--label) became 'long={'v' * 54}…': cut to 63 "
        "characters (was 70)",
    ]


def test_nothing_to_report_for_clean_labels():
    _, notes = build_labels_and_notes(
        job_name="run", gpu_enabled=True, tpu_enabled=False, xgroup="g1",
        args=["--lr", "0.5", "--flag"], user_labels=[("team", "ml")],
        extra={"caliban_index": "1"})
    assert notes == []


def test_repeated_raw_key_last_wins():
    labels = _build(user_labels=[("a", "1"), ("a", "2")])
    assert labels["a"] == "2"


def test_unusable_keys_dropped():
    labels = _build(args=["--", "x"], user_labels=[("!!!", "v"), ("ok", "1")])
    assert "ok" in labels
    assert all(VALID_KEY.match(k) for k in labels)


def test_collision_between_different_raw_keys():
    with pytest.raises(LabelError) as e:
        _build(args=["--learning.rate", "1"], user_labels=[("learning_rate", "2")])
    msg = str(e.value)
    assert "'learning.rate'" in msg and "'learning_rate'" in msg
    assert "'learning_rate' as Vertex AI label keys" in msg
    assert "script args" in msg and "--label" in msg


def test_collision_within_one_source():
    with pytest.raises(LabelError, match="'Team'.*'team'"):
        _build(user_labels=[("Team", "a"), ("team", "b")])


def test_collision_by_truncation():
    long_a, long_b = "a" * 70, "a" * 63 + "b"
    with pytest.raises(LabelError):
        _build(user_labels=[(long_a, "1"), (long_b, "2")])


def test_collision_with_automatic_label():
    with pytest.raises(LabelError, match="automatic"):
        _build(user_labels=[("GPU_enabled", "x")])


def test_exactly_64_labels_allowed():
    automatic = len(_build())
    users = [(f"u{i}", "v") for i in range(MAX_LABELS - automatic)]
    assert len(_build(user_labels=users)) == MAX_LABELS


def test_more_than_64_labels_names_sources():
    args = []
    for i in range(40):
        args += [f"--f{i}", str(i)]
    users = [(f"u{i}", "v") for i in range(25)]
    with pytest.raises(LabelError) as e:
        _build(args=args, user_labels=users)
    msg = str(e.value)
    automatic = len(_build())
    assert f"{automatic + 40 + 25} labels" in msg
    assert f"{automatic} automatic" in msg
    assert "40 script args" in msg
    assert "25 --label" in msg
    assert "at most 64" in msg


def test_overrides_do_not_count_twice():
    automatic = len(_build())
    users = [(f"u{i}", "v") for i in range(MAX_LABELS - automatic)]
    args = [f"--u{i}" for i in range(MAX_LABELS - automatic)]  # same keys as the users
    assert len(_build(args=args, user_labels=users)) == MAX_LABELS

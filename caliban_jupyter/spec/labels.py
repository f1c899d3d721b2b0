"""Vertex AI job labels: caliban's sanitization, labels from flags, and their precedence.

Vertex AI accepts at most 64 labels per resource; keys and values are at most 63
characters of lowercase letters, digits, ``_`` and ``-``, and keys start with a letter.
Caliban's rules turn arbitrary flag names and values into such labels:

- lowercase; ``.`` becomes ``_`` (learning rates like ``0.01`` stay readable as
  ``0_01``); every other character outside ``[a-z0-9_-]`` is dropped;
- a key loses its leading dashes and gets a ``k`` prefix unless it starts with a letter;
  a value keeps a leading ``-`` (so ``-0.5`` stays distinguishable from ``0.5``);
- both are cut to 63 characters; a pair whose key sanitizes to nothing is dropped.

Nothing is changed silently: :func:`build_labels_and_notes` returns one line per label
changed or dropped beyond the documented ``.`` to ``_``. The keys caliban sets itself
(:data:`RESERVED_KEYS`) cannot be given with ``--label``: a job labeled ``xgroup=mine``
would leave its experiment group.

Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ..errors import LabelError, UsageError

__all__ = [
    "MAX_LABELS",
    "MAX_LABEL_LENGTH",
    "RESERVED_KEYS",
    "build_labels",
    "build_labels_and_notes",
    "summarize_notes",
    "labels_from_args",
    "parse_label_flags",
    "sanitize_key",
    "sanitize_value",
]

MAX_LABELS = 64
MAX_LABEL_LENGTH = 63

#: The label carrying each job's experiment group.
XGROUP_KEY = "xgroup"
#: The label carrying each job's 1-based index in its group.
INDEX_KEY = "caliban_index"
#: The label carrying each job's unique submission id (exactly-once submission).
SID_KEY = "caliban_sid"
#: Labels caliban sets on every job; ``--label`` may not set them.
RESERVED_KEYS = ("job_name", "gpu_enabled", "tpu_enabled", XGROUP_KEY, INDEX_KEY, SID_KEY)
# Why each reserved key is caliban's, and what to use instead when there is a flag for it.
_RESERVED_ADVICE = {"xgroup": "choose the group with --xgroup",
                    "job_name": "choose the name with --name",
                    "gpu_enabled": "it follows from --gpu_spec / --nogpu",
                    "tpu_enabled": "it follows from --tpu_spec",
                    INDEX_KEY: "caliban tracks the job with it",
                    SID_KEY: "caliban tracks the job with it"}

_INVALID_CHARS = re.compile(r"[^a-z0-9_-]")
_ALLOWED = "lowercase letters, digits, '_' and '-'"


def sanitize_value(value: str | None) -> str:
    """A label value Vertex AI accepts: see the module docstring. ``None`` gives ``""``."""
    if value is None:
        return ""
    cleaned = _INVALID_CHARS.sub("", str(value).replace(".", "_").lower())
    return cleaned[:MAX_LABEL_LENGTH]


def sanitize_key(key: str) -> str:
    """A label key Vertex AI accepts, or ``""`` when nothing of ``key`` survives."""
    cleaned = _INVALID_CHARS.sub("", str(key).replace(".", "_").lower()).lstrip("-")
    if cleaned and not ("a" <= cleaned[0] <= "z"):
        cleaned = "k" + cleaned
    return cleaned[:MAX_LABEL_LENGTH]


def parse_label_flags(flags: Iterable[str]) -> list[tuple[str, str]]:
    """Split ``--label KEY=VALUE`` arguments into raw (unsanitized) pairs, in order.

    Raises
    ------
    UsageError
        For an argument without ``=`` or with an empty key.
    """
    pairs: list[tuple[str, str]] = []
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep:
            example = flag or "team"
            raise UsageError(
                f"--label {flag!r} is not of the form KEY=VALUE: write e.g. "
                f"--label {example}=VALUE (an empty value is fine: --label {example}=)"
            )
        if not key.strip():
            raise UsageError(
                f"--label {flag!r} has an empty key: write KEY=VALUE, e.g. --label team{flag}"
            )
        pairs.append((key, value))
    return pairs


def _is_flag(token: str) -> bool:
    """A ``-x``/``--x`` option, but not a negative number such as ``-0.5`` or ``-1e-3``."""
    if len(token) < 2 or token[0] != "-":
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def labels_from_args(args: Sequence[str]) -> list[tuple[str, str]]:
    """Raw label pairs from a job's arguments.

    ``--key value`` gives ``(key, value)``, ``--key=value`` the same, and a flag followed
    by another flag (or by nothing) gives ``(key, "")``. Positional arguments and anything
    after a bare ``--`` are ignored. Keys come without their dashes and are not sanitized,
    so :func:`build_labels` can tell two different flags that sanitize alike.
    """
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(args)
    while i < n:
        token = args[i]
        i += 1
        if token == "--":
            break
        if not _is_flag(token):
            continue
        name, sep, value = token.lstrip("-").partition("=")
        if not sep and i < n and not _is_flag(args[i]) and args[i] != "--":
            value = args[i]
            i += 1
        pairs.append((name, value))
    return pairs


def build_labels(
    *,
    job_name: str,
    gpu_enabled: bool,
    tpu_enabled: bool,
    xgroup: str | None,
    args: Sequence[str],
    user_labels: Sequence[tuple[str, str]],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """All labels of one job: :func:`build_labels_and_notes` without the notes."""
    return build_labels_and_notes(job_name=job_name, gpu_enabled=gpu_enabled,
                                  tpu_enabled=tpu_enabled, xgroup=xgroup, args=args,
                                  user_labels=user_labels, extra=extra)[0]


def build_labels_and_notes(
    *,
    job_name: str,
    gpu_enabled: bool,
    tpu_enabled: bool,
    xgroup: str | None,
    args: Sequence[str],
    user_labels: Sequence[tuple[str, str]],
    extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """All labels of one job, sanitized, with caliban's sources in increasing precedence,
    and one line per label that sanitizing changed or dropped.

    Parameters
    ----------
    job_name, gpu_enabled, tpu_enabled, xgroup
        The automatic labels (``xgroup`` omitted when ``None``).
    args
        The job's arguments; each flag becomes a label (:func:`labels_from_args`).
    user_labels
        Raw pairs from ``--label`` (:func:`parse_label_flags`).
    extra
        Further automatic labels, e.g. a submission id and the job's index.

    Returns
    -------
    tuple
        Sanitized key -> sanitized value, and the notes. Automatic labels come first, then
        labels from ``args``, then ``user_labels``; a later source overrides an earlier one
        with the same raw key (so ``--label lr=x`` overrides the flag ``--lr``), except
        that a flag never overrides a reserved key (the automatic label stays, a note says
        so).

    Raises
    ------
    LabelError
        If a ``--label`` key is reserved (:data:`RESERVED_KEYS`), two different raw keys
        sanitize to one key, or there are more than 64 labels (the message counts how many
        each source contributed).
    """
    automatic: list[tuple[str, str]] = [
        ("job_name", job_name),
        ("gpu_enabled", "true" if gpu_enabled else "false"),
        ("tpu_enabled", "true" if tpu_enabled else "false"),
    ]
    if xgroup is not None:
        automatic.append((XGROUP_KEY, xgroup))
    automatic.extend((k, str(v)) for k, v in (extra or {}).items())
    sources = (
        ("automatic", automatic),
        ("script args", labels_from_args(args)),
        ("--label", list(user_labels)),
    )

    labels: dict[str, str] = {}
    notes: list[str] = []
    origin: dict[str, tuple[str, str]] = {}  # sanitized key -> (raw key, source)
    counts: dict[str, int] = {}
    for source, pairs in sources:
        keys: set[str] = set()
        for raw_key, raw_value in pairs:
            key = sanitize_key(raw_key)
            shown = "--name" if source == "automatic" else source
            if not key:
                notes.append(f"label {_pair(raw_key, raw_value)} ({shown}) dropped: no "
                             f"character of its key is allowed in a Vertex AI label key "
                             f"({_ALLOWED})")
                continue
            if key in RESERVED_KEYS and source != "automatic":
                if source == "--label":
                    raise LabelError(_reserved_message(raw_key, raw_value, key))
                notes.append(f"flag --{raw_key} is not a label: {key!r} is set by caliban "
                             "itself (the flag still reaches the program)")
                continue
            previous = origin.get(key)
            if previous is not None and previous[0] != raw_key:
                raise LabelError(
                    f"label keys {previous[0]!r} ({previous[1]}) and {raw_key!r} ({source}) "
                    f"both become {key!r} as Vertex AI label keys (lowercase, [a-z0-9_-], at "
                    "most 63 characters): rename one of them, or use the same spelling to "
                    "override on purpose"
                )
            origin[key] = (raw_key, source)
            value = sanitize_value(raw_value)
            labels[key] = value
            keys.add(key)
            reasons = _changes(raw_key, key, is_key=True) + _changes(raw_value, value)
            if reasons:
                notes.append(f"label {_pair(raw_key, raw_value)} ({shown}) became "
                             f"{_pair(key, value)}: {'; '.join(dict.fromkeys(reasons))}")
        counts[source] = len(keys)

    if len(labels) > MAX_LABELS:
        breakdown = ", ".join(f"{counts[s]} {s}" for s, _ in sources)
        raise LabelError(
            f"a job would carry {len(labels)} labels but Vertex AI allows at most "
            f"{MAX_LABELS} ({breakdown}; a key in several sources counts once overall): "
            "pass fewer --label options, or fewer flags in the experiment config"
        )
    return labels, notes


def summarize_notes(notes: Sequence[str], limit: int = 20) -> tuple[str, ...]:
    """At most ``limit`` notes and a count of the rest (a sweep may change one label per
    job: the lines show how, not every instance)."""
    shown = tuple(notes[:limit])
    if len(notes) > limit:
        shown += (f"... and {len(notes) - limit} more label(s) changed the same way",)
    return shown


def _pair(key: str, value: str | None, width: int = 60) -> str:
    text = f"{key}={value}" if value else str(key)
    return repr(text if len(text) <= width else text[:width - 1] + "…")


def _changes(raw: str | None, clean: str, *, is_key: bool = False) -> list[str]:
    """Why ``raw`` became ``clean``, beyond the documented ``.`` -> ``_`` (empty if not)."""
    plain = "" if raw is None else str(raw).replace(".", "_")
    if plain == clean:
        return []
    reasons = []
    lowered = plain.lower()
    if lowered != plain:
        reasons.append("lowercased")
    dropped = dict.fromkeys(ch for ch in lowered if _INVALID_CHARS.match(ch))
    if dropped:
        reasons.append("dropped " + " ".join(repr(ch) for ch in dropped) +
                       f" (Vertex AI labels allow only {_ALLOWED})")
    kept = _INVALID_CHARS.sub("", lowered)
    if is_key and kept.startswith("-"):
        reasons.append("leading '-' removed")
        kept = kept.lstrip("-")
    if is_key and kept and not ("a" <= kept[0] <= "z"):
        reasons.append("'k' prepended (keys must start with a letter)")
        kept = "k" + kept
    if len(kept) > MAX_LABEL_LENGTH:
        reasons.append(f"cut to {MAX_LABEL_LENGTH} characters (was {len(kept)})")
    return reasons


def _reserved_message(raw_key: str, raw_value: str, key: str) -> str:
    return (f"--label {raw_key}={raw_value}: {key!r} is one of the automatic labels caliban "
            f"sets on every job (reserved: {', '.join(RESERVED_KEYS)}); "
            f"{_RESERVED_ADVICE[key]}, or use another key such as --label my_{key}={raw_value}")

"""Wording helpers shared by the catalog checks: "did you mean" and short choice lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 3) -> list[str]:
    """The closest few ``choices`` to ``word`` (case-insensitive), best first."""
    # difflib is only needed on error paths; keep it off the startup path.
    import difflib

    by_key = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(by_key), n=n, cutoff=0.5)
    return [by_key[h] for h in hits]


def choices(items: Sequence[str], *, limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, ... (and 7 more)`` when the list is long."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" (and {len(items) - limit} more)"


def maybe_meant(word: str, options: Iterable[str]) -> str:
    """``" Did you mean X?"`` or ``""`` when nothing is close."""
    close = did_you_mean(word, options)
    if not close:
        return ""
    return " Did you mean " + " or ".join(close) + "?"


def near_first(region: str, regions: Sequence[str]) -> list[str]:
    """Order ``regions`` so those on the same continent as ``region`` come first: the
    nearest alternative is usually the one a user wants (data locality, latency)."""
    area = region.split("-", 1)[0]
    return sorted(regions, key=lambda r: r.split("-", 1)[0] != area)

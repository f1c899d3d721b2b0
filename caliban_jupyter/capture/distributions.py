"""Which installed distributions provide a top-level module, read once per environment
state: ``importlib.metadata.packages_distributions()`` reads the metadata of every installed
distribution (the largest cost of a warm ``%%caliban_cloud`` cell, bench/RESULTS.md).

The answer is kept with the modification times of the ``sys.path`` directories it was read
from. Installing, upgrading or removing a distribution (``%pip install``) adds or removes a
``*.dist-info`` directory in one of them, which changes that directory's time: the next
call then reads everything again. So a cached answer is never older than the environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import threading
from collections.abc import Mapping, Sequence

_lock = threading.Lock()
_cached: tuple[tuple[tuple[str, int], ...], Mapping[str, Sequence[str]]] | None = None


def _path_state() -> tuple[tuple[str, int], ...]:
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))  # missing now; its appearance changes the state
    return tuple(state)


def providers() -> Mapping[str, Sequence[str]]:
    """``packages_distributions()`` (top-level module -> distribution names), read again
    whenever a ``sys.path`` entry changed since the last read."""
    global _cached
    state = _path_state()
    with _lock:
        if _cached is None or _cached[0] != state:
            _cached = (state, importlib.metadata.packages_distributions())
        return _cached[1]

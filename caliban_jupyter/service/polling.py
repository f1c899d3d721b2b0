"""How often a followed group is listed: the one back-off of every poller.

The live job table (widgets/table.py) and the Jupyter server's refresher
(server/refresher.py) both list a group again after :func:`next_interval` seconds: soon
after something changed, then less and less often while nothing does, so a sweep left
running overnight costs the job service a listing every ``max_interval`` seconds.
"""

from __future__ import annotations

__all__ = ["next_interval"]


def next_interval(current: float, changed: bool, *, interval: float, max_interval: float,
                  backoff: float) -> float:
    """Seconds until the next listing: ``interval`` after a listing that changed
    something, else ``current`` times ``backoff`` (a failed listing counts as unchanged),
    never more than ``max_interval``."""
    if changed:
        return interval
    return min(max_interval, current * backoff)

"""Following a growing log until its job ends (``caliban logs --follow``, the notebook's
``follow_logs``): what is new each time, from the last ``tail`` lines on."""

from __future__ import annotations

from collections.abc import Callable, Generator


def follow(ended: Callable[[], bool], read: Callable[[], str], *, tail: int | None,
           poll: float, sleep: Callable[[float], None]) -> Generator[str, None, None]:
    """Yield new log text each time ``read()`` grows, until ``ended()`` is true.

    ``ended`` is asked before each read: a job already over has all of its output in the
    log read next, so nothing is cut off at the end. A log that shrinks was replaced (a
    restarted job) and is shown again from the top.
    """
    seen: int | None = None
    while True:
        over = ended()
        text = read()
        if seen is None:
            seen = _start(text, tail)
        elif len(text) < seen:
            seen = 0
        if len(text) > seen:
            yield text[seen:]
            seen = len(text)
        if over:
            return
        sleep(poll)


def _start(text: str, tail: int | None) -> int:
    """Where the first chunk starts: the beginning, or the last ``tail`` lines."""
    if tail is None:
        return 0
    kept = text.splitlines(keepends=True)[-tail:] if tail else []
    return len(text) - sum(len(line) for line in kept)

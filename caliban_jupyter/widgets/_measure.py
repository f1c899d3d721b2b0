"""Count what widgets send to the front end (tests and ``bench/bench_table.py``).

:func:`recording_comms` swaps the comm factory ipywidgets uses for one whose comms record
each message's JSON size instead of sending it, so the bytes a table refresh would put on
the wire are measured without a kernel or a browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CommLog", "recording_comms"]


@dataclass
class CommLog:
    """Messages "sent" while recording: ``(msg_type, bytes, comm_id)`` in order."""

    messages: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.messages)

    @property
    def bytes(self) -> int:
        return sum(size for _, size, _ in self.messages)

    def since(self, mark: tuple[int, int]) -> list[tuple[str, int, str]]:
        """The messages sent after ``mark``."""
        return self.messages[mark[0]:]

    def mark(self) -> tuple[int, int]:
        """``(count, bytes)`` so far, to diff around one operation."""
        return self.count, self.bytes


@contextmanager
def recording_comms() -> Iterator[CommLog]:
    """Record every comm message widgets created inside the block send."""
    import ipywidgets.comm as widget_comm
    from comm.base_comm import BaseComm

    log = CommLog()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                        buffers: Any = None, **keys: Any) -> None:
            body = {"data": data or {}, "metadata": metadata or {}, "comm_id": self.comm_id}
            size = len(json.dumps(body, default=str)) + sum(len(b) for b in buffers or ())
            log.messages.append((msg_type, size, self.comm_id))

    original = widget_comm.create_comm
    widget_comm.create_comm = lambda *a, **kw: RecordingComm(*a, **kw)
    try:
        yield log
    finally:
        widget_comm.create_comm = original

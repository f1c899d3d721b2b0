"""Answers shared by every poller until something changes.

Browser tabs poll the same few resources (the group list, an expanded group). An answer
is computed once per change of what it is made of, whoever asks, and every poller gets
the same body and ETag; a poller that already has it gets a 304. What an answer is made of
changes when any process commits to the SQLite history (kernels, the CLI, this server's
refresher), which SQLite reports as a new ``PRAGMA data_version`` on a connection that
never writes, or when this server's own state (submissions, refresh errors) changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Any


class HistoryVersion:
    """A number that changes whenever any connection commits to the history database."""

    def __init__(self, path: Path):
        # A connection of its own: data_version ignores the reader's own commits.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ResponseCache:
    """JSON answers by key, valid for one version; concurrent askers share one build."""

    def __init__(self, size: int = 256):
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, asyncio.Future[Any]]] = (
            OrderedDict())
        self.builds = 0  # answers computed (for tests and the benchmark)

    async def get(self, key: Hashable, version: Hashable,
                  build: Callable[[], Awaitable[Any]]) -> tuple[bytes, str]:
        """``(body, etag)`` of ``key`` at ``version``, building it with ``build()`` once."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            return await asyncio.shield(entry[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._entries[key] = (version, future)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        try:
            self.builds += 1
            body = json.dumps(await build()).encode()
        except BaseException as e:
            if self._entries.get(key, (None, None))[1] is future:
                del self._entries[key]  # an error is not kept: the next ask tries again
            future.set_exception(e)
            future.exception()  # retrieved: waiters (if any) re-raise it themselves
            raise
        answer = (body, f'"{hashlib.sha1(body).hexdigest()}"')
        future.set_result(answer)
        return answer

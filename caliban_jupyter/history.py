"""The local record of experiment groups, experiments and jobs (SQLite, stdlib).

The database lives in ``$CALIBAN_HOME/history.sqlite`` (default ``~/.caliban``). It is a
record and a cache: the cloud's labels are the source of truth, and a group can be rebuilt
from them (see :func:`caliban_jupyter.service.track.refresh_group`).

Several kernels and shells write it at once, so it runs in WAL mode with a busy timeout,
and every write is one short ``BEGIN IMMEDIATE`` transaction (taking the write lock up front
avoids the lock-upgrade deadlock that makes SQLite fail instead of wait).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import CalibanError, NotFoundError
from .records import JobRecord

DB_NAME = "history.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    xgroup   TEXT PRIMARY KEY,
    created  TEXT NOT NULL,
    backend  TEXT NOT NULL,
    project  TEXT NOT NULL,
    region   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (
    id       INTEGER PRIMARY KEY,
    xgroup   TEXT NOT NULL REFERENCES groups(xgroup),
    idx      INTEGER NOT NULL,
    args     TEXT NOT NULL,
    config   TEXT NOT NULL,
    UNIQUE (xgroup, idx)
);
CREATE TABLE IF NOT EXISTS jobs (
    submission_id TEXT PRIMARY KEY,
    xgroup        TEXT NOT NULL REFERENCES groups(xgroup),
    idx           INTEGER NOT NULL,
    display_name  TEXT NOT NULL,
    resource_name TEXT,
    backend       TEXT NOT NULL,
    state         TEXT NOT NULL,
    created       TEXT,
    updated       TEXT,
    recorded      TEXT NOT NULL,
    record        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_group ON jobs (xgroup, idx);
CREATE INDEX IF NOT EXISTS jobs_by_resource ON jobs (resource_name);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (display_name);
"""


def caliban_home(env: Mapping[str, str] | None = None) -> Path:
    """``$CALIBAN_HOME``, or ``~/.caliban``; created if missing."""
    env = os.environ if env is None else env
    home = Path(env.get("CALIBAN_HOME") or Path.home() / ".caliban").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CalibanError(f"cannot create the caliban home {home}: {e.strerror}; set "
                           "CALIBAN_HOME to a writable directory") from None
    return home


def now() -> str:
    """UTC now in RFC 3339, the form Vertex uses for its timestamps."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class GroupRecord:
    """One experiment group as recorded locally."""

    xgroup: str
    created: str
    backend: str
    project: str
    region: str

    def to_json(self) -> dict[str, Any]:
        return {"xgroup": self.xgroup, "created": self.created, "backend": self.backend,
                "project": self.project, "region": self.region}


@contextmanager
def _open_lock(db: Path) -> Iterator[None]:
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class History:
    """The SQLite history. Safe to share between threads; any number of processes.

    Parameters
    ----------
    path
        The database file; default ``caliban_home() / "history.sqlite"``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path is not None else caliban_home() / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Switching a new file to WAL needs an exclusive lock, and two connections doing
            # it while one also creates the schema can deadlock (SQLite then answers
            # "database is locked" only after the busy timeout). Opening is serialized
            # across threads and processes by a lock file instead.
            with _open_lock(self.path):
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                with self._write() as c:
                    for statement in filter(str.strip, SCHEMA.split(";")):
                        c.execute(statement)
                    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise CalibanError(f"cannot open the job history {self.path}: {e}; move it aside "
                               "to start a fresh one (CALIBAN_HOME selects another)") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unusable(self, error: sqlite3.DatabaseError) -> CalibanError:
        return CalibanError(f"cannot use the job history {self.path}: {error}; if it is "
                            "damaged, move it aside to start a fresh one (CALIBAN_HOME "
                            "selects another)")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    if self._conn.in_transaction:
                        cursor.execute("ROLLBACK")
                    raise
                else:
                    cursor.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None
            finally:
                cursor.close()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._conn.execute(sql, tuple(params))
                try:
                    return list(cursor.fetchall())
                finally:
                    cursor.close()
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None

    # -- groups and experiments -------------------------------------------------------

    def add_group(self, xgroup: str, *, backend: str, project: str, region: str,
                  created: str | None = None) -> GroupRecord:
        """Record a group (no-op if it exists); returns the stored row."""
        with self._write() as c:
            c.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, ?, ?, ?)",
                      (xgroup, created or now(), backend, project, region))
        group = self.group(xgroup)
        assert group is not None
        return group

    def claim_group(self, xgroup: str, *, backend: str, project: str, region: str) -> bool:
        """Record a new group; False when any process recorded that name first.

        One insert-or-ignore in one write transaction: of several processes claiming the
        same name at once, exactly one gets True.
        """
        with self._write() as c:
            c.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, ?, ?, ?)",
                      (xgroup, now(), backend, project, region))
            return c.rowcount == 1

    def release_group(self, xgroup: str) -> bool:
        """Forget a group that has no jobs (a claim whose submission stopped before its
        first record); True if it was forgotten. A group with jobs is never touched."""
        with self._write() as c:
            c.execute("DELETE FROM groups WHERE xgroup = ? AND NOT EXISTS "
                      "(SELECT 1 FROM jobs WHERE jobs.xgroup = ?)", (xgroup, xgroup))
            released = c.rowcount == 1
            if released:
                c.execute("DELETE FROM experiments WHERE xgroup = ?", (xgroup,))
            return released

    def group_names(self) -> list[str]:
        """Every recorded group's name, newest first."""
        return [r[0] for r in self._read("SELECT xgroup FROM groups "
                                         "ORDER BY created DESC, rowid DESC")]

    def group(self, xgroup: str) -> GroupRecord | None:
        rows = self._read("SELECT xgroup, created, backend, project, region FROM groups "
                          "WHERE xgroup = ?", (xgroup,))
        return GroupRecord(*rows[0]) if rows else None

    def latest_groups(self, limit: int = 5, *, offset: int = 0) -> list[GroupRecord]:
        """The most recently created groups, newest first (skipping the first ``offset``)."""
        rows = self._read("SELECT xgroup, created, backend, project, region FROM groups "
                          "ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                          (limit, offset))
        return [GroupRecord(*r) for r in rows]

    def add_experiments(self, xgroup: str,
                        experiments: Iterable[tuple[int, Iterable[str], Mapping[str, Any]]]
                        ) -> None:
        """Record ``(index, args, config)`` of each experiment (first write wins)."""
        rows = [(xgroup, idx, json.dumps(list(args)), json.dumps(dict(config), sort_keys=True))
                for idx, args, config in experiments]
        with self._write() as c:
            c.executemany("INSERT OR IGNORE INTO experiments (xgroup, idx, args, config) "
                          "VALUES (?, ?, ?, ?)", rows)

    def experiments(self, xgroup: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT idx, args, config FROM experiments WHERE xgroup = ? "
                          "ORDER BY idx", (xgroup,))
        return [{"index": i, "args": json.loads(a), "config": json.loads(c)} for i, a, c in rows]

    # -- jobs -------------------------------------------------------------------------

    def put_jobs(self, records: Iterable[JobRecord]) -> None:
        """Insert or replace jobs by submission id, in one transaction."""
        recorded = now()
        rows = [(r.submission_id, r.xgroup, r.index, r.display_name, r.resource_name, r.backend,
                 r.state, r.created, r.updated, recorded, json.dumps(r.to_json()))
                for r in records]
        if not rows:
            return
        with self._write() as c:
            # Keep the first `recorded` time: it orders resubmissions after originals.
            c.executemany(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (submission_id) DO UPDATE SET xgroup = excluded.xgroup, "
                "idx = excluded.idx, display_name = excluded.display_name, "
                "resource_name = excluded.resource_name, backend = excluded.backend, "
                "state = excluded.state, created = excluded.created, "
                "updated = excluded.updated, record = excluded.record", rows)

    def put_job(self, record: JobRecord) -> None:
        self.put_jobs([record])

    def jobs(self, xgroup: str, *, limit: int | None = None) -> list[JobRecord]:
        """A group's jobs in index order (then oldest submission first)."""
        sql = "SELECT record FROM jobs WHERE xgroup = ? ORDER BY idx, recorded, rowid"
        params: list[Any] = [xgroup]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [JobRecord.from_json(json.loads(r[0])) for r in self._read(sql, params)]

    def job(self, submission_id: str) -> JobRecord | None:
        rows = self._read("SELECT record FROM jobs WHERE submission_id = ?", (submission_id,))
        return JobRecord.from_json(json.loads(rows[0][0])) if rows else None

    def find_jobs(self, name: str, *, xgroup: str | None = None) -> list[JobRecord]:
        """Jobs whose display name, resource name or job id is ``name``, newest first."""
        sql = ("SELECT record FROM jobs WHERE (display_name = ? OR resource_name = ? OR "
               "resource_name LIKE ? OR resource_name LIKE ?)")
        params: list[Any] = [name, name, f"%/customJobs/{name}",
                             f"%/hyperparameterTuningJobs/{name}"]
        if xgroup is not None:
            sql += " AND xgroup = ?"
            params.append(xgroup)
        sql += " ORDER BY recorded DESC, rowid DESC"
        return [JobRecord.from_json(json.loads(r[0])) for r in self._read(sql, params)]

    def state_counts(self, xgroups: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per group, how many jobs are in each state: each job once, by its latest attempt
        (the last recorded of its index, the order :meth:`jobs` returns).

        Reads three columns, no record JSON: a summary of thousands of jobs costs
        milliseconds, so a page of groups can be summarized on every poll.
        """
        out: dict[str, dict[str, int]] = {x: {} for x in xgroups}
        if not xgroups:
            return out
        marks = ", ".join("?" * len(xgroups))
        latest: dict[tuple[str, int], str] = {}
        for xgroup, idx, state in self._read(
                f"SELECT xgroup, idx, state FROM jobs WHERE xgroup IN ({marks}) "
                "ORDER BY xgroup, idx, recorded, rowid", xgroups):
            latest[(xgroup, idx)] = state
        for (xgroup, _), state in latest.items():
            out[xgroup][state] = out[xgroup].get(state, 0) + 1
        return out

    def groups_with_latest(self, xgroups: Sequence[str], *, state: str,
                           error: str) -> set[str]:
        """Of ``xgroups``, those where some job's latest attempt (as :meth:`state_counts`
        counts it) is in ``state`` with the record's ``error`` exactly ``error``: with
        ``NOT_SUBMITTED`` and the submitter's pending reason, the groups whose submission
        recorded jobs it has not yet created (or was killed before it could say)."""
        if not xgroups:
            return set()
        marks = ", ".join("?" * len(xgroups))
        latest: dict[tuple[str, int], bool] = {}
        # The record JSON is read only for jobs in `state`: a summary stays cheap.
        for xgroup, idx, match in self._read(
                "SELECT xgroup, idx, state = ? AND json_extract(record, '$.error') = ? "
                f"FROM jobs WHERE xgroup IN ({marks}) ORDER BY xgroup, idx, recorded, rowid",
                (state, error, *xgroups)):
            latest[(xgroup, idx)] = bool(match)
        return {xgroup for (xgroup, _), match in latest.items() if match}

    def groups_with_states_outside(self, states: Iterable[str]) -> list[str]:
        """Groups having a job (any attempt) whose state is not one of ``states``: with the
        terminal states, the groups a refresh may still change."""
        done = list(states)
        marks = ", ".join("?" * len(done))
        rows = self._read(f"SELECT DISTINCT xgroup FROM jobs WHERE state NOT IN ({marks})",
                          done)
        return [r[0] for r in rows]

    def count_jobs(self, xgroup: str | None = None) -> int:
        if xgroup is None:
            return int(self._read("SELECT COUNT(*) FROM jobs")[0][0])
        return int(self._read("SELECT COUNT(*) FROM jobs WHERE xgroup = ?", (xgroup,))[0][0])

    def require_group(self, xgroup: str) -> GroupRecord:
        group = self.group(xgroup)
        if group is None:
            raise NotFoundError(f"no experiment group {xgroup!r} in {self.path}; list recent "
                                "groups with `caliban status`")
        return group

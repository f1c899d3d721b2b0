"""The emulator's state: jobs in SQLite (WAL) and their logs on disk, in the state dir.

Everything a restart needs lives here, so stopping the emulator loses no job. All state
changes go through :meth:`JobStore.transition`, a compare-and-set on the state, so a
cancel and a job finishing at the same moment cannot both win.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .resources import job_name, rfc3339
from .rpc import CANCELLED_ERROR

ACTIVE_STATES = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    project_number TEXT NOT NULL,
    location TEXT NOT NULL,
    display_name TEXT NOT NULL,
    state TEXT NOT NULL,
    labels TEXT NOT NULL,
    body TEXT NOT NULL,
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    update_time REAL NOT NULL,
    error TEXT,
    container_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (project_number, location, id);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS operations (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tuning_jobs (
    id INTEGER PRIMARY KEY,
    project_number TEXT NOT NULL,
    location TEXT NOT NULL,
    display_name TEXT NOT NULL,
    state TEXT NOT NULL,
    labels TEXT NOT NULL,
    body TEXT NOT NULL,
    trials TEXT NOT NULL,
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    update_time REAL NOT NULL,
    error TEXT
);
"""
# Columns added after the first release, for state dirs made before them: (table, column,
# declaration). Added idempotently on open (SQLite has no ADD COLUMN IF NOT EXISTS).
_MIGRATIONS = (
    # The HyperparameterTuningJob a trial's CustomJob belongs to (NULL: a plain CustomJob).
    ("jobs", "tuning_job", "INTEGER"),
)


@dataclass(frozen=True)
class Stored:
    """What CustomJobs and HyperparameterTuningJobs share: ``body`` is the request as
    received (lowerCamelCase); the rest is set by the emulator."""

    id: int
    project_number: str
    location: str
    display_name: str
    state: str
    labels: Mapping[str, str]
    body: Mapping[str, Any]
    create_time: float
    update_time: float
    start_time: float | None = None
    end_time: float | None = None
    error: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """What a list filter looks at."""
        return {
            "display_name": self.display_name,
            "state": self.state,
            "labels": self.labels,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }

    def to_resource(self) -> dict[str, Any]:
        """The resource in Vertex's JSON form (enums by name)."""
        out: dict[str, Any] = {k: v for k, v in self.body.items()
                               if k not in ("name", "state", "error", "trials")}
        out["name"] = self.name
        out["displayName"] = self.display_name
        out["state"] = self.state
        if self.labels:
            out["labels"] = dict(self.labels)
        for key, ts in (("createTime", self.create_time), ("startTime", self.start_time),
                        ("endTime", self.end_time), ("updateTime", self.update_time)):
            if ts is not None:
                out[key] = rfc3339(ts)
        if self.error:
            out["error"] = dict(self.error)
        return out


@dataclass(frozen=True)
class Job(Stored):
    """One stored CustomJob (a trial's, when ``tuning_job`` is set)."""

    container_id: str | None = None
    tuning_job: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return job_name(self.project_number, self.location, self.id)

    @property
    def pool(self) -> Mapping[str, Any]:
        """The first worker pool: the one the emulator runs."""
        return self.body["jobSpec"]["workerPoolSpecs"][0]


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        project_number=row["project_number"],
        location=row["location"],
        display_name=row["display_name"],
        state=row["state"],
        labels=json.loads(row["labels"]),
        body=json.loads(row["body"]),
        create_time=row["create_time"],
        update_time=row["update_time"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        error=json.loads(row["error"]) if row["error"] else None,
        container_id=row["container_id"],
        tuning_job=row["tuning_job"],
    )


class JobStore:
    """Jobs, operations and logs under ``state_dir``; safe to share between threads.

    Parameters
    ----------
    state_dir
        Directory holding ``emulator.db`` and ``logs/``; created if missing.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.logs_dir = self.state_dir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: SQLite serializes writers anyway, and this keeps
        # every compare-and-set atomic without retry loops.
        self._db = sqlite3.connect(
            self.state_dir / "emulator.db", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            for table, column, declaration in _MIGRATIONS:
                have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            row = self._db.execute("SELECT value FROM meta WHERE key='instance'").fetchone()
            if row is None:
                self.instance = uuid.uuid4().hex[:12]
                self._db.execute("INSERT INTO meta VALUES ('instance', ?)", (self.instance,))
            else:
                self.instance = row[0]
        self._last_id = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs -----------------------------------------------------------------------------

    def _new_id(self) -> int:
        # Time-based and increasing: ids stay unique even if the state dir is wiped, and
        # sorting by id is sorting by creation.
        row = self._db.execute("SELECT MAX(id) FROM jobs UNION ALL "
                               "SELECT MAX(id) FROM tuning_jobs").fetchall()
        floor = max(*(r[0] or 0 for r in row), self._last_id)
        self._last_id = max(floor + 1, int(time.time() * 1000) * 1000)
        return self._last_id

    def new_id(self) -> int:
        """A fresh id, unique across CustomJobs and HyperparameterTuningJobs."""
        with self._lock:
            return self._new_id()

    def create(
        self, project_number: str, location: str, body: Mapping[str, Any],
        *, tuning_job: int | None = None,
    ) -> Job:
        """Store a queued CustomJob (a trial's when ``tuning_job`` names its tuning job)."""
        now = time.time()
        with self._lock:
            job_id = self._new_id()
            self._db.execute(
                "INSERT INTO jobs (id, project_number, location, display_name, state, labels,"
                " body, create_time, update_time, tuning_job) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (job_id, project_number, location, body["displayName"], "JOB_STATE_QUEUED",
                 json.dumps(body.get("labels") or {}), json.dumps(body), now, now,
                 tuning_job),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def list(
        self,
        project_number: str | None = None,
        location: str | None = None,
        *,
        before_id: int | None = None,
        states: Iterable[str] | None = None,
        newest_first: bool = True,
        limit: int | None = None,
        trials: bool = True,
    ) -> list[Job]:
        """Jobs, newest first, optionally of one parent, below an id, in some states
        (without the trials of tuning jobs unless ``trials``)."""
        rows = self.select("jobs", project_number, location, before_id=before_id,
                           states=states, newest_first=newest_first, limit=limit,
                           where="" if trials else "tuning_job IS NULL")
        return [_row_to_job(r) for r in rows]

    def select(self, table: str, project_number: str | None = None,
               location: str | None = None, *, before_id: int | None = None,
               states: Iterable[str] | None = None, newest_first: bool = True,
               limit: int | None = None, where: str = "") -> list[sqlite3.Row]:
        """Rows of ``table`` (jobs or tuning_jobs), by id, with the filters of :meth:`list`."""
        sql, params = f"SELECT * FROM {table} WHERE 1=1", list[Any]()
        if where:
            sql += f" AND {where}"
        if project_number is not None:
            sql += " AND project_number=? AND location=?"
            params += [project_number, location]
        if before_id is not None:
            sql += " AND id<?"
            params.append(before_id)
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += states
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id ASC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def count(self, states: Iterable[str]) -> int:
        states = list(states)
        with self._lock:
            return self._db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE state IN ({','.join('?' * len(states))})",
                states,
            ).fetchone()[0]

    def count_all(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def transition(
        self,
        job_id: int,
        state: str,
        *,
        only_from: Iterable[str] | None = None,
        **fields: Any,
    ) -> Job | None:
        """Move a job to ``state`` (and set ``fields``) if it is in one of ``only_from``.

        Returns the updated job, or ``None`` when the job is gone or in another state.
        ``start_time``/``end_time`` given as ``True`` mean "now". Every way to
        ``JOB_STATE_CANCELLED`` sets Vertex's cancelled ``error`` (code 1).
        """
        if state == "JOB_STATE_CANCELLED" and fields.get("error") is None:
            fields["error"] = CANCELLED_ERROR
        changed = self.update("jobs", job_id, only_from, state=state, **fields)
        return self.get(job_id) if changed else None

    def update(self, table: str, job_id: int, only_from: Iterable[str] | None,
               **fields: Any) -> bool:
        """Set ``fields`` of row ``job_id`` of ``table`` (and its update time) if its state
        is one of ``only_from``; whether it was. ``*_time`` given as True mean "now";
        ``error`` and ``trials`` are stored as JSON."""
        now = time.time()
        sets, params = ["update_time=?"], list[Any]([now])
        for key, value in fields.items():
            if value is True and key.endswith("_time"):
                value = now
            if key in ("error", "trials") and value is not None:
                value = json.dumps(value)
            sets.append(f"{key}=?")
            params.append(value)
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE id=?"
        params.append(job_id)
        if only_from is not None:
            allowed = list(only_from)
            sql += f" AND state IN ({','.join('?' * len(allowed))})"
            params += allowed
        with self._lock:
            return bool(self._db.execute(sql, params).rowcount)

    def delete(self, job_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
        self.log_path(job_id).unlink(missing_ok=True)
        for path in self.logs_dir.glob(f"{job_id}.workerpool*.log"):
            path.unlink(missing_ok=True)

    # -- operations -----------------------------------------------------------------------

    def save_operation(self, name: str, body: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO operations VALUES (?, ?)",
                             (name, json.dumps(body)))

    def get_operation(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM operations WHERE name=?",
                                   (name,)).fetchone()
        return json.loads(row[0]) if row else None

    # -- logs -----------------------------------------------------------------------------

    def log_path(self, job_id: int) -> Path:
        return self.logs_dir / f"{job_id}.log"

    def replica_log_path(self, job_id: int, replica: str) -> Path:
        """One replica's own log (jobs with several replicas; ``workerpool1-0``)."""
        return self.logs_dir / f"{job_id}.{replica}.log"

    def replicas_logged(self, job_id: int) -> tuple[str, ...]:
        """The replicas that have their own log, chief first."""
        names = [p.name[len(f"{job_id}."):-len(".log")]
                 for p in self.logs_dir.glob(f"{job_id}.workerpool*.log")]
        return tuple(sorted(names, key=lambda n: tuple(int(x) for x in n[10:].split("-"))))

    def read_log(self, job_id: int, tail: int | None = None,
                 replica: str | None = None) -> str:
        """The saved log of a job, or of one of its replicas (its last ``tail`` lines if
        given); "" if none yet. A one-replica job's log is its only replica's."""
        path = self.log_path(job_id)
        if replica is not None and self.replica_log_path(job_id, replica).exists():
            path = self.replica_log_path(job_id, replica)
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail > 0 else ""
        return text

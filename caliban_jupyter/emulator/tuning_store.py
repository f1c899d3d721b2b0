"""Stored HyperparameterTuningJobs: a row each in the emulator's SQLite (``tuning_jobs``),
beside the CustomJobs that run their trials (``jobs.tuning_job`` names the tuning job).

The resource's fields follow the REST reference
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.hyperparameterTuningJobs):
``name``, ``displayName``, ``studySpec``, ``maxTrialCount``, ``parallelTrialCount``,
``maxFailedTrialCount``, ``trialJobSpec``, ``labels`` as sent; ``trials[]``, ``state``,
``createTime``/``startTime``/``endTime``/``updateTime`` and ``error`` set by the service.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import JobStore, Stored

COLLECTION = "hyperparameterTuningJobs"


def trial_metrics_dir(state_dir: Path, job_id: int) -> Path:
    """The host directory mounted at ``/tmp/hypertune`` in a trial's CustomJob ``job_id``:
    its metrics file ``output.metrics`` is read from here."""
    return Path(state_dir) / "hypertune" / str(job_id)


@dataclass(frozen=True)
class TuningJob(Stored):
    """One stored tuning job; ``trials`` hold private keys (``_job``...) besides Vertex's."""

    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return (f"projects/{self.project_number}/locations/{self.location}/{COLLECTION}/"
                f"{self.id}")

    def to_resource(self) -> dict[str, Any]:
        out = super().to_resource()
        trials = [{k: v for k, v in t.items() if not k.startswith("_")} for t in self.trials]
        if trials:
            out["trials"] = trials
        return out


def _row(row: Any) -> TuningJob:
    return TuningJob(
        id=row["id"], project_number=row["project_number"], location=row["location"],
        display_name=row["display_name"], state=row["state"],
        labels=json.loads(row["labels"]), body=json.loads(row["body"]),
        trials=json.loads(row["trials"]), create_time=row["create_time"],
        update_time=row["update_time"], start_time=row["start_time"],
        end_time=row["end_time"], error=json.loads(row["error"]) if row["error"] else None)


class TuningStore:
    """The tuning jobs of a :class:`JobStore` (same database, same lock)."""

    def __init__(self, store: JobStore) -> None:
        self.jobs = store
        self._db = store._db
        self._lock = store._lock

    def create(self, project_number: str, location: str, body: Mapping[str, Any]
               ) -> TuningJob:
        now = time.time()
        with self._lock:
            job_id = self.jobs.new_id()
            self._db.execute(
                "INSERT INTO tuning_jobs (id, project_number, location, display_name, state,"
                " labels, body, trials, create_time, update_time) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (job_id, project_number, location, body["displayName"], "JOB_STATE_QUEUED",
                 json.dumps(body.get("labels") or {}), json.dumps(body), "[]", now, now))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: int) -> TuningJob | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tuning_jobs WHERE id=?",
                                   (job_id,)).fetchone()
        return _row(row) if row else None

    def list(self, project_number: str | None = None, location: str | None = None, *,
             before_id: int | None = None, states: Iterable[str] | None = None,
             limit: int | None = None) -> list[TuningJob]:
        """Tuning jobs, newest first, optionally of one parent, below an id, in states."""
        return [_row(r) for r in self.jobs.select(
            "tuning_jobs", project_number, location, before_id=before_id, states=states,
            limit=limit)]

    def update(self, job_id: int, *, only_from: Iterable[str] | None = None,
               **fields: Any) -> TuningJob | None:
        """Set ``fields`` (``state``, ``trials``, ``error``, ``*_time``: True means now) if
        the job is in one of ``only_from``; the updated job, or None."""
        changed = self.jobs.update("tuning_jobs", job_id, only_from, **fields)
        return self.get(job_id) if changed else None

    def delete(self, job_id: int) -> None:
        """Delete the tuning job and its trials' CustomJobs (and their logs)."""
        with self._lock:
            trial_jobs = [r[0] for r in self._db.execute(
                "SELECT id FROM jobs WHERE tuning_job=?", (job_id,))]
            self._db.execute("DELETE FROM tuning_jobs WHERE id=?", (job_id,))
        for trial_job in trial_jobs:
            self.jobs.delete(trial_job)
            shutil.rmtree(trial_metrics_dir(self.jobs.state_dir, trial_job), ignore_errors=True)
        self.jobs.log_path(job_id).unlink(missing_ok=True)

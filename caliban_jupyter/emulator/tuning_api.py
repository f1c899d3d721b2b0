"""The HyperparameterTuningJob methods of Vertex AI v1 (create, get, list, cancel, delete),
over the store and the :class:`~.tuning.Tuner` (no HTTP here).

As for CustomJobs (:mod:`.api`): the list takes the same ``filter`` (display_name, state,
labels, times), ``pageSize``/``pageToken`` and ``readMask``; a delete of an unfinished job is
refused and otherwise answers a done Operation (and deletes the trials' CustomJobs); a
refused create stores nothing. Methods and fields: the REST reference,
https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.hyperparameterTuningJobs
"""

from __future__ import annotations

from typing import Any

from .api import checked_body, deletable, deleted, found, list_response
from .resources import check_parent, project_number
from .tuning import Tuner
from .tuning_store import COLLECTION, TuningJob, TuningStore
from .tuning_validation import tuning_job_problems

# Fields only the service sets: ignored in a create body.
OUTPUT_ONLY = ("name", "state", "error", "trials", "createTime", "startTime", "endTime",
               "updateTime", "satisfiesPzs", "satisfiesPzi")


class TuningService:
    """``projects.locations.hyperparameterTuningJobs``."""

    def __init__(self, tunings: TuningStore, tuner: Tuner) -> None:
        self.tunings = tunings
        self.tuner = tuner

    def create(self, project: str, location: str, body: Any) -> TuningJob:
        job = checked_body(project, location, body, "HyperparameterTuningJob",
                           tuning_job_problems, OUTPUT_ONLY)
        created = self.tunings.create(project_number(project), location, job)
        self.tuner.drive(created.id)
        return created

    def get(self, project: str, location: str, job_id: str) -> TuningJob:
        return found(project, location, job_id, "HyperparameterTuningJob", COLLECTION,
                     self.tunings.get)

    def list(self, project: str, location: str, filter_text: str | None,
             page_size: int | None, page_token: str | None,
             read_mask: str | None = None) -> dict[str, Any]:
        check_parent(project, location)
        number = project_number(project)
        return list_response(
            "hyperparameterTuningJobs", TuningJob.to_resource,
            lambda before, n: self.tunings.list(number, location, before_id=before, limit=n),
            filter_text, page_size, page_token, read_mask)

    def cancel(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        self.tuner.cancel(self.get(project, location, job_id))
        return {}

    def delete(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        job = self.get(project, location, job_id)
        deletable(job, "HyperparameterTuningJob")
        self.tunings.delete(job.id)
        return deleted(self.tunings.jobs, job.project_number, job.location, job.id)

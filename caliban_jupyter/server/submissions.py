"""Submissions the server is running: a notebook's image builds while the panel shows it.

``POST /caliban/api/submissions`` validates the whole plan first (a mistake is a 400 and
nothing starts), then answers 202 with the experiment group at once, and builds and
submits on the extension's thread pool. Until the history holds the group's jobs, the
group is listed from here, with what the build is doing; a failed build stays listed
with its one-line error until the server restarts (nothing was recorded, nothing leaks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import events as ev
from ..errors import CalibanError
from ..history import now
from . import adapter

if TYPE_CHECKING:
    from ..service.groups import JobGroup
    from ..service.plan import Plan

#: Submission states: building the image, creating jobs, done, or failed (see ``error``).
STATES = ("building", "submitting", "submitted", "failed")


@dataclass
class Submission:
    """One notebook submission started by this server: its group's handle (whose phase
    is the state) and what the build last said."""

    xgroup: str
    notebook: str
    backend: str
    project: str
    region: str
    total: int
    group: JobGroup
    created: str = field(default_factory=now)
    message: str = "starting"
    submitted: int = 0
    internal_error: str | None = None  # not the user's doing (see the server log)

    @property
    def state(self) -> str:
        """One of :data:`STATES`: the group's phase (planned and uploading count as
        building: making the jobs runnable)."""
        if self.internal_error is not None:
            return "failed"
        phase = self.group.phase or "planned"
        return "building" if phase in ("planned", "uploading") else phase

    @property
    def error(self) -> str | None:
        return self.internal_error or self.group.error

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "message": self.message, "notebook": self.notebook,
                "submitted": self.submitted, "total": self.total, "error": self.error}

    def group_json(self) -> dict[str, Any]:
        """The group as listed before the history has it."""
        return {"xgroup": self.xgroup, "backend": self.backend, "project": self.project,
                "region": self.region, "created": self.created, "total": self.total,
                "counts": {}, "finished": self.state == "failed",
                "submission": self.to_json()}


class Submissions:
    """The submissions of this server process, by experiment group."""

    def __init__(self, executor: Executor, *, on_done: Callable[[str], None] = lambda x: None,
                 log: logging.Logger | None = None):
        self._executor = executor
        self._on_done = on_done
        self._log = log or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._by_group: dict[str, Submission] = {}
        self.version = 0  # changes with any submission's state or message

    def start(self, plan: Plan, notebook: str) -> Submission:
        """Record the submission and build and submit it in the background.

        A default group name is claimed first, so the group the answer names is the one
        the jobs go to, even when another submission planned the same name."""
        from ..service.group_names import reserve_group

        plan = reserve_group(plan)
        where = adapter.plan_summary(plan)
        submission = Submission(notebook=notebook, group=adapter.planned_group(plan), **where)
        with self._lock:
            self._by_group[plan.xgroup] = submission
            self.version += 1
        self._executor.submit(self._run, submission, plan)
        return submission

    def get(self, xgroup: str) -> Submission | None:
        with self._lock:
            return self._by_group.get(xgroup)

    def all(self) -> list[Submission]:
        """Every submission, newest first."""
        with self._lock:
            return sorted(self._by_group.values(), key=lambda s: s.created, reverse=True)

    def _run(self, submission: Submission, plan: Plan) -> None:
        def progress(event: ev.Event) -> None:
            with self._lock:
                if isinstance(event, ev.BuildStep):
                    submission.message = f"building: {event.message}"
                elif isinstance(event, ev.PushProgress):
                    submission.message = "pushing the image"
                elif isinstance(event, ev.ImageReady):
                    submission.message = event.message
                elif isinstance(event, ev.JobSubmitted):
                    submission.submitted += 1
                    submission.message = f"submitted {submission.submitted} of " \
                                         f"{submission.total} jobs"
                elif isinstance(event, (ev.Info, ev.Warning_, ev.JobFailedToSubmit)):
                    submission.message = event.message
                else:
                    return
                self.version += 1

        try:
            adapter.execute(plan, progress, group=submission.group)
        except CalibanError as e:
            with self._lock:
                submission.message = str(e).splitlines()[0]
        except Exception as e:  # not the user's doing: say where to look
            self._log.exception("caliban: submission of %s failed", submission.notebook)
            with self._lock:
                submission.internal_error = submission.message = (
                    f"internal error ({type(e).__name__}: {e}); see the Jupyter server log")
        else:
            with self._lock:
                submission.message = f"submitted {submission.total} job" \
                                     f"{'s' if submission.total != 1 else ''}"
        with self._lock:
            self.version += 1
        self._on_done(submission.xgroup)

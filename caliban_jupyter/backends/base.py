"""The small protocol every job service (Vertex AI, the local emulator, a plug-in) implements.

Backends speak CustomJob JSON (Vertex's REST form, lowerCamelCase, state names such as
``JOB_STATE_RUNNING``) and raise only :class:`~caliban_jupyter.errors.BackendError`
subclasses, so the submitter can decide what to retry without knowing the transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from ..errors import BackendError

if TYPE_CHECKING:
    import random

    from ..events import Progress
    from ..settings import Settings

T = TypeVar("T")


class TransientBackendError(BackendError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection).

    ``ambiguous`` is True when the request may have reached the service and been acted
    on (a 5xx, a timeout, a connection dropped after sending): the job may exist, so it
    must be looked up by its submission id before any retry.
    """

    def __init__(self, message: str, *, ambiguous: bool, status: int | None = None):
        super().__init__(message)
        self.ambiguous = ambiguous
        self.status = status


class PermanentBackendError(BackendError):
    """The service refused the request for a reason a retry cannot fix (400/401/403/404)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


@runtime_checkable
class Backend(Protocol):
    """A job service: a class registered under the entry-point group
    ``caliban_jupyter.backends`` (see :mod:`~caliban_jupyter.backends.registry`).

    What differs between job services is asked of it, never branched on its name: the
    class attributes and class methods describe the service before anything connects (the
    plan, the dry run and the form read them); :meth:`connect` builds the client, whose
    methods create, list, cancel and read jobs.
    """

    #: The ``--backend`` value (its entry point's name).
    name: ClassVar[str]
    #: How a person calls it, in choice lists ("Vertex AI").
    title: ClassVar[str]
    #: True when it cannot run without a Google Cloud project (``--project_id``).
    needs_project: ClassVar[bool]
    #: The project recorded for its groups when none is set ("" when it needs one).
    default_project: ClassVar[str]
    #: The ``--build`` modes whose result it can run (``docker``, ``package``,
    #: ``cloudbuild``); ``auto`` picks among these.
    build_modes: ClassVar[frozenset[str]]
    #: True when a code package or a Cloud Build context goes to Cloud Storage
    #: (``--staging_bucket`` required); else to :meth:`local_staging`.
    needs_staging_bucket: ClassVar[bool]
    #: True when a code package runs on Vertex's prebuilt executor images by default;
    #: False when it runs on the ``base_image`` setting (what this machine has).
    prebuilt_executors: ClassVar[bool]
    #: True when it runs images of this machine's Docker engine (an ``--image_tag`` is
    #: looked up there first), False when only a registry it can read counts.
    local_images: ClassVar[bool]
    #: The output root when ``output_dir`` is not set (None: outputs off).
    default_output_dir: ClassVar[str | None]
    #: True when a local directory may be the output root (else only ``gs://``).
    local_output_dirs: ClassVar[bool]

    project: str
    region: str

    @classmethod
    def prepare(cls, settings: Settings) -> Settings:
        """``settings`` checked and completed for this service (a project it requires, a
        registry it pulls from); raises :class:`~caliban_jupyter.errors.UsageError`."""
        ...

    @classmethod
    def connect(cls, settings: Settings, progress: Progress) -> Backend:
        """The client for ``settings`` (starting what it needs, saying so on ``progress``)."""
        ...

    @classmethod
    def local_staging(cls) -> Path | None:
        """The directory code packages are staged in without a staging bucket (None when
        :attr:`needs_staging_bucket`)."""
        ...

    @classmethod
    def gs_root(cls, settings: Settings | None) -> Path | None:
        """Where the ``gs://`` output locations of its jobs live on this machine; None
        when they are in Cloud Storage."""
        ...

    @classmethod
    def notebook_url(cls, output_uri: str, job_url: str | None) -> str | None:
        """Where a person opens the executed notebook a notebook job wrote to
        ``output_uri`` (its page at ``job_url``), or None."""
        ...

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a CustomJob from its REST body; return the created job's JSON."""
        ...

    def find_by_submission_id(self, submission_id: str) -> dict[str, Any] | None:
        """The job carrying this submission-id label, or None (one list call)."""
        ...

    def list_group(self, xgroup: str) -> Iterator[dict[str, Any]]:
        """Every job labeled ``xgroup``: one list call per page, never a get per job."""
        ...

    def cancel(self, resource_name: str) -> None:
        """Ask the service to cancel a job (returns before it is CANCELLED)."""
        ...

    def logs(self, resource_name: str, tail: int | None = None) -> str:
        """The job's output so far; a service that keeps logs elsewhere raises a
        BackendError that says where."""
        ...

    def job_url(self, resource_name: str) -> str:
        """Where a person can look at the job (console or emulator page)."""
        ...


@runtime_checkable
class TuningService(Protocol):
    """What a job service adds to run hyperparameter tuning jobs (``--tune``): Vertex's
    ``projects.locations.hyperparameterTuningJobs`` create/get/list/cancel, in the same
    REST JSON. Optional: a backend without it refuses ``--tune`` before anything is
    built (service/tuning.py says so)."""

    def create_tuning(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a HyperparameterTuningJob from its REST body; return the created job."""
        ...

    def get_tuning(self, resource_name: str) -> dict[str, Any]:
        """One tuning job, with its ``trials[]``."""
        ...

    def list_tuning_group(self, xgroup: str) -> Iterator[dict[str, Any]]:
        """Every tuning job labeled ``xgroup``: one list call per page."""
        ...

    def cancel_tuning(self, resource_name: str) -> None:
        """Ask the service to cancel a tuning job (returns before it is CANCELLED)."""
        ...


#: A registered backend class (what :func:`~caliban_jupyter.backends.registry.load` gives).
BackendType = type[Backend]


class RetryPolicy:
    """Exponential backoff with full jitter: attempt ``n`` (0-based) sleeps a uniform
    random time in ``[0, min(maximum, initial * multiplier**n)]``.

    Full jitter spreads the retries of a sweep's concurrent submissions so they do not hit
    a rate-limited service again in lockstep.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 8,
        initial: float = 0.5,
        maximum: float = 30.0,
        multiplier: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        # Imported here: a plan loads this module from the user's directory, where a
        # random.py of theirs may stand first on sys.path (`python -m` puts cwd there).
        import random

        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def delay(self, attempt: int) -> float:
        cap = min(self.maximum, self.initial * self.multiplier**attempt)
        with self._lock:  # random.Random is not documented as thread-safe
            return self._rng.uniform(0, cap)

    def backoff(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried on :class:`TransientBackendError` (for idempotent reads)."""
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except TransientBackendError:
                if attempt + 1 >= self.max_attempts:
                    raise
                self.backoff(attempt)
        raise AssertionError("unreachable")

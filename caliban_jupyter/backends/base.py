"""The small protocol every job service (Vertex AI, the local emulator) implements.

Backends speak CustomJob JSON (Vertex's REST form, lowerCamelCase, state names such as
``JOB_STATE_RUNNING``) and raise only :class:`~caliban_jupyter.errors.BackendError`
subclasses, so the submitter can decide what to retry without knowing the transport.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..errors import BackendError

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
    """Where jobs run. ``name`` is ``"vertex"`` or ``"local"``."""

    name: str
    project: str
    region: str

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
        """The job's output (local emulator); Vertex raises a BackendError with the URL."""
        ...

    def job_url(self, resource_name: str) -> str:
        """Where a person can look at the job (console or emulator page)."""
        ...


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

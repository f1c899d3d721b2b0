"""Where a job table gets its records and sends its actions: the tracking functions.

:class:`GroupSource` is the seam between the table widget and the job service. The table
calls :meth:`~GroupSource.refresh` once per refresh (one ``refresh_group``: one list call
per page); actions go through :mod:`caliban_jupyter.service.track` and the backend protocol.
Tests hand the table another object with the same four methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..history import History
    from ..records import JobRecord
    from ..settings import Settings

__all__ = ["GroupSource", "TrackingSource", "source_for"]


class GroupSource(Protocol):
    """What a :class:`~caliban_jupyter.widgets.table.JobTable` needs from the service."""

    xgroup: str

    def refresh(self) -> list[JobRecord]:
        """Every record of the group, all attempts, oldest attempt first per index."""
        ...

    def stop(self, records: list[JobRecord]) -> None:
        """Ask the service to cancel these jobs."""
        ...

    def resubmit(self, records: list[JobRecord]) -> list[JobRecord]:
        """Submit these jobs again (same image and args); return the new records."""
        ...

    def logs(self, record: JobRecord, tail: int) -> str:
        """The last ``tail`` lines of a job's output."""
        ...


class TrackingSource:
    """A group followed through :mod:`caliban_jupyter.service.track`.

    Parameters
    ----------
    xgroup
        The experiment group.
    backend
        A backend, a function building one, or None: the group's recorded backend
        (:func:`~caliban_jupyter.service.track.backend_for_group`), else the current settings.
    history
        The history to read and write (default: ``$CALIBAN_HOME``'s).
    settings
        Settings to resolve the backend from when it is not given.
    """

    def __init__(self, xgroup: str, *, backend: Backend | Callable[[], Backend] | None = None,
                 history: History | None = None, settings: Settings | None = None):
        self.xgroup = xgroup
        self._backend = backend
        self._history = history
        self._settings = settings
        self.calls = 0  # refresh_group calls made (for tests and the benchmark)

    @property
    def history(self) -> History:
        if self._history is None:
            from ..history import History

            self._history = History()
        return self._history

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from ..service.track import backend_for_group

            self._backend = backend_for_group(self.history.group(self.xgroup), self._settings)
        elif callable(self._backend) and not hasattr(self._backend, "list_group"):
            self._backend = self._backend()
        return self._backend  # type: ignore[return-value]

    def refresh(self) -> list[JobRecord]:
        from ..service.track import refresh_group

        self.calls += 1
        return refresh_group(self.xgroup, self.backend, self.history)

    def stop(self, records: list[JobRecord]) -> None:
        from ..errors import BackendError

        errors = []
        for record in records:
            if record.resource_name and not record.is_terminal:
                try:
                    self.backend.cancel(record.resource_name)
                except BackendError as e:
                    errors.append(f"{record.display_name}: {e}")
        if errors:
            raise BackendError(f"could not stop {len(errors)} job(s): {errors[0]}")

    def resubmit(self, records: list[JobRecord]) -> list[JobRecord]:
        from ..service.track import resubmit

        return resubmit(self.xgroup, backend=self.backend, history=self.history,
                        indices={r.index for r in records})

    def logs(self, record: JobRecord, tail: int) -> str:
        from ..errors import NotFoundError

        if not record.resource_name:
            raise NotFoundError(f"{record.display_name} was never submitted "
                                f"({record.error or 'no resource name'}): it has no logs")
        return self.backend.logs(record.resource_name, tail=tail)


def source_for(group: Any, **kwargs: Any) -> GroupSource:
    """A source for an experiment group name, a Sweep (anything with ``xgroup`` and a
    ``backend``), or an object that already is a source."""
    if isinstance(group, str):
        return TrackingSource(group, **kwargs)
    if hasattr(group, "refresh") and hasattr(group, "xgroup") and not hasattr(group, "records"):
        return group  # already a source (tests, custom services)
    if hasattr(group, "xgroup"):
        # A Sweep: reuse its backend (built lazily), so the table asks the same service.
        kwargs.setdefault("backend", lambda: group.backend)
        kwargs.setdefault("settings", getattr(group, "settings", None))
        return TrackingSource(group.xgroup, **kwargs)
    raise TypeError(f"JobTable needs an experiment group name or a Sweep, not "
                    f"{type(group).__name__}")

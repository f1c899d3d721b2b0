"""Clients of job services (Vertex AI, the local emulator, any registered plug-in), behind
one small protocol (:mod:`.base`).

Each is a class registered under the entry-point group ``caliban_jupyter.backends``
(:mod:`.registry`); :func:`get_backend` builds the one the settings name. What differs
between services is an attribute or method of the class, never a branch on its name
elsewhere. Nothing heavy is imported here: the Google SDK loads when a backend is first
used.

May import: errors, events, spec, settings; the emulator only from :mod:`.local`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import Progress
    from ..settings import Settings
    from .base import Backend, PermanentBackendError, TransientBackendError

__all__ = [
    "Backend",
    "PermanentBackendError",
    "TransientBackendError",
    "get_backend",
]


def __getattr__(name: str) -> Any:
    # The protocol loads on first use: `caliban --help` must not pay for the events and
    # retry machinery.
    if name in ("Backend", "PermanentBackendError", "TransientBackendError"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_backend(settings: Settings, progress: Progress | None = None) -> Backend:
    """The backend ``settings.backend`` names, connected (see each class's ``connect``).

    Raises
    ------
    ConfigError
        No job service of that name is installed.
    """
    from ..events import ignore
    from .registry import load

    cls = load(settings.backend, source=settings.sources.get("backend"))
    return cls.connect(settings, progress or ignore)

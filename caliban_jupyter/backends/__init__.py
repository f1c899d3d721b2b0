"""Where jobs run: Vertex AI or the local emulator, behind one small protocol.

:func:`get_backend` picks one from the settings. Nothing heavy is imported here: the
Google SDK loads when a backend is first built.
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

#: The project id used with the local emulator when none is configured.
LOCAL_PROJECT = "local"


def __getattr__(name: str) -> Any:
    # The protocol loads on first use: `caliban --help` reaches this package (the emulator
    # command lives under it) and must not pay for the events and retry machinery.
    if name in ("Backend", "PermanentBackendError", "TransientBackendError"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_backend(settings: Settings, progress: Progress | None = None) -> Backend:
    """The backend ``settings.backend`` names.

    ``vertex`` needs a project id; ``local`` uses ``settings.endpoint`` or starts the
    local emulator (reusing one already running) and defaults the project to ``local``.
    """
    from ..errors import UsageError
    from ..events import Info, ignore

    progress = progress or ignore
    if settings.backend == "local":
        from .local import LocalBackend

        endpoint = settings.endpoint
        if not endpoint:
            from ..emulator.control import ensure_emulator

            told: list[object] = []

            def relay(event):  # ensure_emulator says so itself when it starts one
                told.append(event)
                progress(event)

            endpoint = ensure_emulator(progress=relay)
            if not told:
                progress(Info(f"using the local Vertex emulator at {endpoint}"))
        else:
            progress(Info(f"using the local Vertex emulator at {endpoint}"))
        return LocalBackend(
            project=settings.project_id or LOCAL_PROJECT,
            region=settings.region,
            endpoint=endpoint,
        )
    if not settings.project_id:
        raise UsageError(
            "no Google Cloud project: pass --project_id (or set PROJECT_ID, or "
            "\"project_id\" in .calibanconfig.json), or use --backend local to run on the "
            "local Vertex emulator"
        )
    from .vertex import VertexBackend

    return VertexBackend(
        project=settings.project_id,
        region=settings.region,
        endpoint=settings.endpoint,
        cloud_key=settings.cloud_key,
    )

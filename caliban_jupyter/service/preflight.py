"""The one step that looks at the machine before a plan is made: files and the engine.

:func:`~caliban_jupyter.service.plan.plan_from_request` calls :func:`preflight` once, after
the settings are resolved, and hands what it found to the pure planning: the ``-d``
directories exist, the ``--cloud_key`` file exists, a notebook target is readable, and,
when ``--build auto`` may choose Docker, whether a Docker engine answers (the dry run
reports that answer). Every problem is a :class:`~caliban_jupyter.errors.CalibanError`
raised here, before anything is built or submitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..backends.base import BackendType
    from ..settings import Settings
    from ..spec.target import Target

__all__ = ["Preflight", "preflight"]

#: Whether a Docker engine answers, and where (the process's DOCKER_HOST: the engine this
#: process would build on, whatever environment the settings are read from).
Probe = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class Preflight:
    """What the preflight found.

    Attributes
    ----------
    engine
        Whether a Docker engine answers and where, or None when the build does not
        depend on it (not asked).
    """

    engine: tuple[bool, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.engine is not None:
            out["docker_engine"] = {"answers": self.engine[0], "at": self.engine[1]}
        return out


def preflight(settings: Settings, service: BackendType, target: Target | None, *,
              cwd: str, dirs: Sequence[str] = (), image_tag: str | None = None,
              probe: Probe | None = None) -> Preflight:
    """Check the files a request names (its working directory ``cwd``, the ``-d``
    directories ``dirs``) and ask what the build choice needs.

    Raises
    ------
    CalibanError
        A missing directory or key file, an unreadable notebook.
    """
    if not image_tag:
        from ..packaging.context import check_dirs

        check_dirs(cwd, tuple(dirs))
    if settings.cloud_key and not Path(cwd, settings.cloud_key).expanduser().is_file():
        raise UsageError(f"--cloud_key {settings.cloud_key}: no such file "
                         f"(from {settings.sources.get('cloud_key', 'flag')})")
    if target is not None and target.kind == "notebook":
        check_notebook(Path(cwd, target.path))
    engine = None
    if needs_engine(settings, service, image_tag=image_tag):
        if probe is None:
            from ..packaging.engine import probe_engine

            probe = probe_engine
        engine = probe()
    return Preflight(engine=engine)


def needs_engine(settings: Settings, service: BackendType, *, image_tag: str | None) -> bool:
    """Whether ``--build auto`` may pick Docker here (only then is the engine asked)."""
    return (not image_tag and settings.build == "auto" and not settings.executor_image
            and "docker" in service.build_modes)


def check_notebook(path: Path) -> None:
    """Fail the plan (not the job) when the notebook cannot be read."""
    import nbformat

    from ..errors import TargetError

    try:
        nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as e:
        raise TargetError(f"{path.name} is not a readable Jupyter notebook ({e}); "
                          "open and save it in Jupyter, or name a module or script") from None

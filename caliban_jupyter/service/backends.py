"""The job services front ends may offer, from the backend registry.

Every choice list of a backend (``--backend``, ``%config Caliban.backend``, the settings,
the widget form, the REST catalog and so the lab dialog) comes from here, so a service
another package registers (entry-point group ``caliban_jupyter.backends``) is offered
everywhere with no file of caliban-jupyter changed. Front ends ask this module, never
:mod:`caliban_jupyter.backends` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..backends.base import BackendType

__all__ = ["BACKEND_CHOICES", "BackendNames", "backend_catalog", "backend_choices",
           "backend_names", "backend_type"]


def backend_names() -> tuple[str, ...]:
    """The installed job services' names (``vertex``, ``local``, then plug-ins)."""
    from ..backends.registry import names

    return names()


def backend_type(name: str, *, source: str | None = None) -> BackendType:
    """The class of the job service ``name`` (a ConfigError listing the installed ones
    when there is none)."""
    from ..backends.registry import load

    return load(name, source=source)


def backend_catalog() -> list[dict[str, object]]:
    """Each service as the REST catalog and the lab dialog show it: ``name``, ``title``,
    ``needs_project``, ``build_modes`` (those ``--build auto`` may pick among)."""
    out: list[dict[str, object]] = []
    for name in backend_names():
        cls = backend_type(name)
        out.append({"name": name, "title": cls.title, "needs_project": cls.needs_project,
                    "build_modes": sorted(cls.build_modes)})
    return out


def backend_choices() -> list[tuple[str, str]]:
    """``(label, name)`` per service, for a drop-down (the name, and its title when that
    says more)."""
    out = []
    for entry in backend_catalog():
        name, title = str(entry["name"]), str(entry["title"])
        out.append((name if title.lower() == name else f"{name} ({title})", name))
    return out


class BackendNames:
    """The installed services' names as argparse ``choices`` (or a trait's values), read
    when first asked: building a parser reads no metadata, checking a value does."""

    def __iter__(self) -> Iterator[str]:
        return iter(backend_names())

    def __contains__(self, name: object) -> bool:
        return name in backend_names()

    def __len__(self) -> int:
        return len(backend_names())

    def __repr__(self) -> str:
        return repr(list(backend_names()))


#: ``choices=`` for a ``--backend`` flag.
BACKEND_CHOICES = BackendNames()

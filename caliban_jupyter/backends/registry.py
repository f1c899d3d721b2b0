"""The job services installed: entry points of the group ``caliban_jupyter.backends``.

Each entry point names a class implementing :class:`~caliban_jupyter.backends.base.Backend`
(the two built-ins are declared in caliban-jupyter's own ``pyproject.toml``); another
package adds a service by declaring one in its own metadata, and every choice list
(``--backend``, ``%config Caliban.backend``, the settings, the form, the lab dialog) then
offers it. Reading the names costs one scan of the installed metadata and imports nothing;
:func:`load` imports the one class asked for.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .base import BackendType

GROUP = "caliban_jupyter.backends"

_lock = threading.Lock()
_loaded: dict[str, BackendType] = {}


#: The built-ins, as pyproject.toml declares them: used only when the installed metadata
#: lacks them (a source tree put on PYTHONPATH over an install of an older version).
BUILTIN = {"vertex": "caliban_jupyter.backends.vertex:VertexBackend",
           "local": "caliban_jupyter.backends.local:LocalBackend"}


def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import EntryPoint, entry_points

    # Later distributions on sys.path do not shadow earlier ones (importlib's own order).
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point)
    for name, value in BUILTIN.items():
        found.setdefault(name, EntryPoint(name, value, GROUP))
    return found


def names() -> tuple[str, ...]:
    """The installed job services' names: the built-ins first (``vertex``, ``local``),
    then the others in alphabetical order."""
    installed = set(_entry_points())
    builtin = tuple(n for n in ("vertex", "local") if n in installed)
    return builtin + tuple(sorted(installed - set(builtin)))


def load(name: str, *, source: str | None = None) -> BackendType:
    """The backend class registered as ``name`` (imported once per process).

    Raises
    ------
    ConfigError
        No job service of that name is installed (the message lists those that are), or
        its entry point cannot be loaded.
    """
    key = str(name).strip().lower()
    with _lock:
        if key in _loaded:
            return _loaded[key]
    points = _entry_points()
    point = points.get(key)
    where = f" (from {source})" if source else ""
    if point is None:
        installed = ", ".join(names()) or "none"
        raise ConfigError(f"unknown backend {name!r}{where}; the installed job services are: "
                          f"{installed}. Choose one of them, or install the package that "
                          f"provides {name!r} (it registers under the entry-point group "
                          f"{GROUP!r})")
    try:
        cls = point.load()
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"backend {key!r}{where} is installed ({point.value}) but cannot be "
                          f"loaded: {e}; reinstall the package that provides it") from None
    if getattr(cls, "name", None) != key:
        raise ConfigError(f"backend {key!r} ({point.value}) names itself "
                          f"{getattr(cls, 'name', None)!r}: its class attribute `name` must "
                          "be its entry point's name; fix the package that provides it")
    with _lock:
        _loaded.setdefault(key, cls)
        return _loaded[key]

"""The names of the job services caliban can submit to, read from the backend registry.

A placeholder for the registry of backend plug-ins (entry-point group
``caliban_jupyter.backends``): until it lands, the built-ins. Every choice list of
``--backend`` (the CLI, ``%config Caliban``, the form, ``GET /caliban/api/flags``) asks
:func:`backend_names`, through the flag schema's ``choices`` reference.
"""

from __future__ import annotations

__all__ = ["backend_names"]


def backend_names() -> tuple[str, ...]:
    """The registered backends' names: the built-ins, Vertex AI first."""
    return ("vertex", "local")

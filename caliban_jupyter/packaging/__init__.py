"""How code becomes an image: context selection, Dockerfile text, build and push.

Importing this package does not import the docker SDK; :func:`ensure_image` and
:func:`docker_client` do, when called.

May import: errors, events, spec, settings, capture (the program it packages); never
backends, the emulator or anything above (what a job service can run comes in as
arguments, e.g. :func:`~.modes.choose_build`'s ``service``).
"""

from __future__ import annotations

from typing import Any

from .dockerfile import DockerfileSpec, render_dockerfile

_LAZY = {
    "BuildRequest": ".context", "ContextPlan": ".context", "plan_context": ".context",
    "write_context": ".context", "ImageResult": ".docker", "docker_client": ".docker",
    "ensure_image": ".docker",
}


def __getattr__(name: str) -> Any:
    # context.py pulls in the docker SDK's ignore matcher: load it only when used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)

__all__ = [
    "BuildRequest",
    "ContextPlan",
    "DockerfileSpec",
    "ImageResult",
    "docker_client",
    "ensure_image",
    "plan_context",
    "render_dockerfile",
    "write_context",
]

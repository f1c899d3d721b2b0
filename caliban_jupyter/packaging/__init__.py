"""How code becomes an image: context selection, Dockerfile text, build and push.

Importing this package does not import the docker SDK; :func:`ensure_image` and
:func:`docker_client` do, when called.
"""

from __future__ import annotations

from .context import BuildRequest, ContextPlan, plan_context, write_context
from .docker import ImageResult, docker_client, ensure_image
from .dockerfile import DockerfileSpec, render_dockerfile

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

"""caliban-jupyter: notebook code to labeled, containerized job sweeps on Vertex AI.

Importing this package is cheap: no Docker, no Google SDK, no network. The public API
(``cloud``, ``status``, ``stop``, ``resubmit``, ``logs``, ``follow_logs``, ``outputs``,
``config``, ``form``, ``last``, and what they return and raise: ``Sweep``, ``DryRun``, ``JobGroup``,
``CalibanError``) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Caliban", "CalibanError", "DryRun", "JobGroup", "Sweep", "cloud", "config",
           "follow_logs", "form", "last", "load_ipython_extension", "logs", "outputs",
           "resubmit", "status", "stop"]

# public name -> module defining it (imported on first attribute access). No submodule may
# share a public name: importing it would replace the function on the package.
_LAZY = {
    "cloud": "notebook.api", "status": "notebook.api", "stop": "notebook.api",
    "resubmit": "notebook.api", "logs": "notebook.api", "follow_logs": "notebook.api",
    "config": "notebook.api", "outputs": "notebook.api", "last": "notebook.api",
    "form": "notebook.forms",
    "Sweep": "notebook.sweep", "Caliban": "notebook.session", "DryRun": "service.dryrun",
    "JobGroup": "service.groups", "CalibanError": "errors",
}

if TYPE_CHECKING:
    from .errors import CalibanError
    from .notebook.api import (
        cloud,
        config,
        follow_logs,
        last,
        logs,
        outputs,
        resubmit,
        status,
        stop,
    )
    from .notebook.forms import form
    from .notebook.session import Caliban
    from .notebook.sweep import Sweep
    from .service.dryrun import DryRun
    from .service.groups import JobGroup


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension is (``jupyter labextension develop`` links it)."""
    return [{"src": "labextension", "dest": "caliban-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext caliban_jupyter``."""
    from .notebook.magics import load_ipython_extension as _load

    _load(ipython)

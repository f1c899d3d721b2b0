"""caliban-jupyter: notebook code to labeled, containerized job sweeps on Vertex AI.

Importing this package is cheap: no Docker, no Google SDK, no network.
"""

from __future__ import annotations

__version__ = "0.1.0"


def load_ipython_extension(ipython):  # pragma: no cover - exercised by kernel tests
    from .magics import load_ipython_extension as _load

    _load(ipython)

"""The Jupyter server extension ``caliban``: REST routes under ``/caliban/api/``.

Enabled on install by ``jupyter-config/server-config/caliban_jupyter.json`` (installed to
``etc/jupyter/jupyter_server_config.d``). Loading it imports jupyter_server and the
service layer's light modules; Docker and the Google SDK load only when a job needs them.

May import the service and everything below it but backends, packaging, capture and the
emulator (it follows groups through JobGroups; adapter.py is its one door to the service).
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CalibanApp

    return [{"module": "caliban_jupyter.server", "app": CalibanApp}]

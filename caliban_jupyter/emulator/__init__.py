"""The local Vertex AI emulator: Vertex's v1 REST API for CustomJobs and
HyperparameterTuningJobs, jobs run in Docker.

A server, not a backend: ``--backend local``'s client (backends/local.py) starts and
reaches it. The real SDK talks to it at
``http://127.0.0.1:PORT`` with anonymous credentials. Start one with
``caliban emulator`` (foreground), ``caliban emulator start`` (background), in-process
with :class:`Emulator`, or on demand with :func:`control.ensure_emulator`.

What it mirrors of Vertex AI (its contract is the real SDK's own flows,
tests/integration/test_sdk_flows.py): requests, refusals in Vertex's "List of found
errors" form (machine types and accelerators from the client's catalog, see
:mod:`.validation`), states, a cancelled job's ``error`` (code 1), ``webAccessUris``, and
the ``/gcs/`` mount (backed by a GCS emulator when ``STORAGE_EMULATOR_HOST`` is set: see
:mod:`.gcs_mount` for the Cloud Storage FUSE behaviours it does not reproduce). Google's
prebuilt images run on a local image (:mod:`.prebuilt`). Tuning jobs run their trials as
CustomJobs (:mod:`.tuning`), proposed by :mod:`.study`.

Importing this package is cheap: the server and the docker SDK load on first use.

May import: errors, events and spec; it is imported only by
backends/local.py (its client) and by name as ``caliban emulator``'s command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Emulator, EmulatorConfig
    from .faults import FaultConfig
    from .runner import RunnerConfig

__all__ = ["Emulator", "EmulatorConfig", "FaultConfig", "RunnerConfig"]

_LAZY = {"Emulator": "app", "EmulatorConfig": "app", "FaultConfig": "faults",
         "RunnerConfig": "runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)

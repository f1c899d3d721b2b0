"""The `caliban` console script: main, render, one module per command.

A front end: may import the service, records, history, tables, settings, spec and the
front-end support modules (flags, progress, ask); never backends, packaging, capture or
the emulator (it holds a JobGroup).
"""

from .main import main

__all__ = ["main"]

"""The `caliban` console script: main, render, one module per command."""

from .main import main

__all__ = ["main"]

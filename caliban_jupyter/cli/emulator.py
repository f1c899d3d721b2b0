"""``caliban emulator``: the local Vertex AI emulator's own command line, under ``caliban``."""

from ..emulator.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]

"""``python -m caliban_jupyter.emulator ...``: same as ``caliban emulator ...``.

The background emulator runs this way, without loading the other ``caliban`` commands.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CalibanError
from . import cli as command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caliban emulator", description=command.HELP)
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return command.run(args)
    except CalibanError as e:
        print(f"caliban emulator: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

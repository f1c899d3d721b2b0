"""`caliban` subcommands, one module each.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules must stay cheap to import: heavy imports (docker, google-cloud-aiplatform) happen
inside ``run``, so ``caliban --help`` and ``caliban cloud --dry_run`` start fast.
"""

# name -> module (relative to caliban_jupyter.cli), in the order `caliban --help` lists
# them. `caliban emulator` is the local emulator's own command line (the same as
# `python -m caliban_jupyter.emulator`): a server's entry point, loaded by name like one,
# not a client of it (the client is backends/local.py).
COMMANDS = {
    "cloud": ".cloud",
    "export": ".export",
    "expansion": ".expansion",
    "status": ".status",
    "stop": ".stop",
    "resubmit": ".resubmit",
    "logs": ".logs",
    "outputs": ".outputs",
    "emulator": "caliban_jupyter.emulator.cli",
}

"""`caliban` subcommands, one module each.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules must stay cheap to import: heavy imports (docker, google-cloud-aiplatform) happen
inside ``run``, so ``caliban --help`` and ``caliban cloud --dry_run`` start fast.
"""

# name -> module under caliban_jupyter.cli, in the order `caliban --help` lists them.
COMMANDS = {
    "cloud": "cloud",
    "export": "export",
    "expansion": "expansion",
    "status": "status",
    "stop": "stop",
    "resubmit": "resubmit",
    "logs": "logs",
    "outputs": "outputs",
    "emulator": "emulator",
}

"""``caliban expansion``: show the jobs an experiment config broadcasts into."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "Expand an experiment config into one entry per job, as JSON or as flags."

_EPILOG = """\
A config is a JSON object, or a list of objects; # and // line comments are allowed.
List values are swept as a cartesian product (the first key varies slowest);
"[a,b]" keys set several flags together; true gives a bare --flag, false omits it.

examples:
  caliban expansion experiment.json
  echo '{"lr": [0.1, 0.01], "[depth,width]": [[2, 64], [4, 128]]}' | \\
    caliban expansion --print_flags stdin
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _EPILOG
    parser.add_argument(
        "--pprint", action="store_true", help="Pretty-print the JSON list (2-space indent)."
    )
    parser.add_argument(
        "--print_flags",
        action="store_true",
        help="Print each job's flags as one shell-quoted line instead of JSON.",
    )
    parser.add_argument(
        "experiment_config",
        metavar="CONFIG",
        help="Path to an experiment config JSON file, or 'stdin' to read it from stdin.",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here so `caliban --help` pays nothing for this command.
    import json
    import shlex

    from ..spec.experiments import (
        expand_experiment_config,
        experiment_to_args,
        load_experiment_config,
    )

    experiments = expand_experiment_config(load_experiment_config(args.experiment_config))
    if args.print_flags:
        lines = [shlex.join(experiment_to_args(e)) for e in experiments]
        text = "\n".join(lines) + "\n" if lines else ""
    else:
        text = json.dumps(experiments, indent=2 if args.pprint else None) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `caliban expansion ... | head` is normal use, not an error. Point stdout at
        # devnull so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

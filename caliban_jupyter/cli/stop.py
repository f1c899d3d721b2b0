"""`caliban stop`: cancel the running jobs of an experiment group, or one job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from .status import add_backend_arguments, print_event, render_table, settings_from_args

if TYPE_CHECKING:
    from ..records import JobRecord

HELP = ("Stop (cancel) one job (JOB), or the running jobs of an experiment group (default: "
        "the latest group).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB", nargs="?",
                        help="stop only this job: display name, resource name or job id "
                        "(see `caliban status`)")
    parser.add_argument("--xgroup", help="the experiment group (default: the latest one); "
                        "with JOB, the group to look the job up in")
    parser.add_argument("--dry_run", action="store_true",
                        help="show the jobs that would be stopped; stop nothing")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before stopping more than one job")
    add_backend_arguments(parser)


def make_confirm(yes: bool, stdin: TextIO | None = None, stdout: TextIO | None = None, *,
                 ask: Callable[[str], str] | None = None, least: int = 2,
                 refusal: str = "pass --yes to stop them",
                 ) -> Callable[[Sequence[JobRecord]], bool]:
    """The question asked before stopping ``least`` jobs or more (an error when nobody can
    answer).

    ``ask`` replaces the terminal: it gets the question and returns the answer (a kernel
    passes ``input``, which reads from the notebook's input box); when it cannot ask
    (``EOFError``, ``OSError``, or a front end without input raising
    ``NotImplementedError``), the answer is a :class:`UsageError` ending with ``refusal``.
    """
    from ..errors import UsageError

    def confirm(jobs: Sequence[JobRecord]) -> bool:
        if yes or len(jobs) < least:
            return True
        out = stdout or sys.stdout
        question = f"Stop {'this job' if len(jobs) == 1 else f'these {len(jobs)} jobs'}? [y/N] "
        if ask is not None:
            print(render_table(jobs), file=out)
            out.flush()
            try:
                answer = ask(question)
            except (EOFError, NotImplementedError, OSError):
                raise UsageError(f"refusing to stop {len(jobs)} job(s) without confirmation: "
                                 f"nobody can answer here; {refusal}") from None
            return answer.strip().lower() in ("y", "yes")
        from ..ask import confirm as ask_terminal

        return ask_terminal(question.removesuffix(" [y/N] "), action=f"stop {len(jobs)} jobs",
                            yes=False, details=render_table(jobs), stdin=stdin, stdout=out,
                            refusal=refusal)

    return confirm


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking

    if args.job is not None:
        from ..service.track import stop_job

        jobs = stop_job(args.job, xgroup=args.xgroup, settings=settings_from_args(args),
                        dry_run=args.dry_run, progress=print_event)
    else:
        jobs = tracking.stop(args.xgroup, settings=settings_from_args(args),
                             dry_run=args.dry_run, confirm=make_confirm(args.yes),
                             progress=print_event)
    if args.dry_run and jobs:
        print(f"would stop {len(jobs)} job(s):")
        print(render_table(jobs))
    elif jobs:
        print(f"stopping {len(jobs)} job(s): " + ", ".join(j.display_name for j in jobs))
    return 0

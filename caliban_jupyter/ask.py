"""Asking before something large (stopping jobs, submitting a big sweep, writing into a
non-empty directory), on a terminal or in a notebook's input box.

``--yes`` answers for the user. When nobody can answer (stdin is not a terminal, or it ends
before an answer) the command refuses and names ``--yes``, rather than guessing either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .records import JobRecord


def confirm(question: str, *, action: str, yes: bool, details: str | None = None,
            stdin: TextIO | None = None, stdout: TextIO | None = None,
            refusal: str = "pass --yes to go ahead") -> bool:
    """True to go ahead, False when the user answers no.

    Parameters
    ----------
    question
        Asked as ``QUESTION [y/N]``.
    action
        What would be done, for the refusal: ``"stop 3 jobs"``.
    details
        Printed before the question (e.g. the jobs concerned).
    refusal
        What to do instead, ending the error when nobody can answer.

    Raises
    ------
    UsageError
        When no answer can be had: it names ``--yes``.
    """
    from .errors import UsageError

    if yes:
        return True
    inp = stdin or sys.stdin
    out = stdout or sys.stdout
    if not inp.isatty():
        raise UsageError(f"refusing to {action} without confirmation: stdin is not a "
                         f"terminal; {refusal}")
    if details:
        print(details, file=out)
    out.write(f"{question} [y/N] ")
    out.flush()
    answer = inp.readline()
    if not answer:  # end of input (Ctrl-D): nobody answered
        out.write("\n")
        raise UsageError(f"refusing to {action} without confirmation: the input ended "
                         f"before an answer; {refusal}")
    return answer.strip().lower() in ("y", "yes")


def ask_in_kernel(question: str, *, action: str, refusal: str,
                  ask: Callable[[str], str] | None = None) -> bool:
    """Ask ``question`` in a notebook's input box (``input``); True on yes.

    Raises
    ------
    UsageError
        When the front end cannot ask (no stdin: a widget callback, a script), ending
        with ``refusal``.
    """
    from .errors import UsageError

    ask = ask or (lambda q: input(q))  # looked up now: the kernel installs its own
    try:
        answer = ask(f"{question} [y/N] ")
    except (EOFError, NotImplementedError, OSError):
        raise UsageError(f"refusing to {action} without confirmation: nobody can answer "
                         f"here; {refusal}") from None
    return answer.strip().lower() in ("y", "yes")


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
    from .errors import UsageError
    from .tables import render_table

    def confirm_stop(jobs: Sequence[JobRecord]) -> bool:
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
        return confirm(question.removesuffix(" [y/N] "), action=f"stop {len(jobs)} jobs",
                       yes=False, details=render_table(jobs), stdin=stdin, stdout=out,
                       refusal=refusal)

    return confirm_stop


def yes_no(question: str) -> bool | None:
    """Ask a yes/no question on the terminal; ``None`` when there is no terminal."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")

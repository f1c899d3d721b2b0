"""Asking before something large (stopping jobs, submitting a big sweep) in the terminal.

``--yes`` answers for the user. When nobody can answer (stdin is not a terminal, or it ends
before an answer) the command refuses and names ``--yes``, rather than guessing either way.
"""

from __future__ import annotations

import sys
from typing import TextIO


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

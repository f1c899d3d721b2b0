"""`caliban cloud`: package code into an image and submit one job per experiment."""

from __future__ import annotations

import argparse
import sys

from ..flags import add_cloud_arguments

HELP = "Build an image of your code and submit it as a labeled job sweep (Vertex AI or local)."

#: A sweep of more jobs than this is confirmed first (--yes skips the question).
CONFIRM_ABOVE = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_cloud_arguments(p)
    p.add_argument("--yes", "-y", action="store_true",
                   help=f"do not ask before submitting more than {CONFIRM_ABOVE} jobs, or "
                        "a sweep estimated above --max_cost")
    p.add_argument("module", metavar="MODULE", help="module, script, file or notebook to run")
    # A default keeps argparse from listing it among the required arguments.
    p.add_argument("_extra", nargs="*", default=[], help=argparse.SUPPRESS)
    p.set_defaults(_takes_script_args=True)


def run(args: argparse.Namespace) -> int:
    from ..service.plan import CloudRequest, plan_from_request
    from ..service.submission import submit
    from .render import render_run

    request = CloudRequest.from_namespace(args)
    plan = plan_from_request(request, stdin=sys.stdin)
    n = len(plan.specs)
    if n > CONFIRM_ABOVE and not request.dry_run:
        from ..ask import confirm

        # Asked on stderr: stdout stays the records (--format json). A config read from a
        # piped stdin leaves nobody to answer: confirm() then refuses and names --yes.
        if not confirm(f"Submit {n} jobs to {plan.backend} (experiment group {plan.xgroup})?",
                       action=f"submit {n} jobs", yes=args.yes, stdout=sys.stderr):
            print("nothing submitted", file=sys.stderr)
            return 1
    if not request.dry_run and not _cost_confirmed(plan, args.yes):
        print("nothing submitted", file=sys.stderr)
        return 1
    return render_run(plan, submit)


def _cost_confirmed(plan, yes: bool) -> bool:
    """``max_cost``: a sweep estimated above it asks first (refused when nobody can
    answer, naming --yes)."""
    from ..service.costs import over_max_cost

    reason = over_max_cost(plan)
    if reason is None:
        return True
    from ..ask import confirm

    return confirm(f"{reason[0].upper()}{reason[1:]}. Submit anyway?",
                   action="submit a sweep above max_cost", yes=yes, stdout=sys.stderr,
                   refusal="pass --yes to go ahead, or raise --max_cost")


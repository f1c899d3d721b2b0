"""Cost around a submission: the ``max_cost`` guard before it, the estimate of what the
jobs cost so far after it. The figures and billing rules are spec/cost.py's; this module
only applies them to a plan and to job records.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..records import JobRecord
    from .plan import Plan

__all__ = ["COST_LABEL", "over_max_cost", "record_cost", "records_cost", "refuse_over_max_cost"]

#: How every front end labels these figures.
COST_LABEL = "estimated cost (list prices)"


def over_max_cost(plan: Plan) -> str | None:
    """Why ``plan`` must be confirmed before it is submitted, or ``None``.

    With ``max_cost`` set, a sweep whose bound (with ``--timeout``) or hourly rate (without)
    is above it, or whose cost is unknown, needs a yes.
    """
    limit = plan.settings.max_cost
    if limit is None:
        return None
    from ..spec.cost import usd
    from .dryrun import plan_cost

    estimate = plan_cost(plan)
    figure, said = estimate.guard_figure()
    source = plan.settings.sources.get("max_cost", "flag")
    where = "--max_cost" if source == "flag" else f"max_cost ({source})"
    if figure is None:
        missing = "; ".join(estimate.billed.unknown)
        return f"the cost of this sweep is unknown ({missing}), and {where} is {usd(limit)}"
    if figure <= limit:
        return None
    return f"this sweep would cost {said}, above {where} {usd(limit)}"


def refuse_over_max_cost(plan: Plan) -> None:
    """For a front end with nobody to ask (the Jupyter server's submissions): a sweep
    above ``max_cost`` is refused, with what to do.

    Raises
    ------
    UsageError
        When :func:`over_max_cost` has a reason.
    """
    reason = over_max_cost(plan)
    if reason is not None:
        from ..errors import UsageError

        raise UsageError(f"refusing to submit: {reason}; nobody can confirm it here: raise "
                         "max_cost, or submit from a notebook or terminal that can ask")


def record_cost(record: JobRecord, now: _dt.datetime | None = None) -> dict[str, Any]:
    """One job's estimated cost so far (spec.cost.cost_so_far of its JSON form)."""
    from ..spec.cost import cost_so_far
    from ..tables import cost_fields

    return cost_so_far(cost_fields(record), now)


def records_cost(records: Iterable[JobRecord], now: _dt.datetime | None = None
                 ) -> dict[str, Any]:
    """The estimated cost so far of ``records`` together (every attempt counts: each one
    ran and is billed by the same rules)."""
    from ..spec.cost import group_cost
    from ..tables import cost_fields

    return group_cost((cost_fields(r) for r in records), now)

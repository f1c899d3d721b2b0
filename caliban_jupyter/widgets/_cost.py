"""Cost as the widgets show it: the form's estimate line, updated as choices change."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.plan import Plan


def cost_html(plan: Plan) -> str:
    """One line: each job's and the sweep's USD/hour (on demand and Spot side by side
    unless one was chosen), the bound with a timeout; unknown figures said as such."""
    from ..service.dryrun import plan_cost

    estimate = plan_cost(plan)
    shown = [o.summary(estimate.jobs) for o in estimate.options]
    warnings = "".join(f"<div style='color:#b06000'>⚠ {html.escape(w)}</div>"
                       for w in estimate.warnings)
    return (f"<div class='caliban-form-cost'>Estimated cost (list prices as of "
            f"{html.escape(estimate.as_of)}, {html.escape(estimate.region)}): "
            f"{html.escape(' · '.join(shown))}</div>{warnings}")

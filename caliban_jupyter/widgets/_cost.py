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
    from ..spec.cost import usd

    estimate = plan_cost(plan)
    shown = []
    for o in estimate.options:
        name = {"on-demand": "on-demand", "SPOT": "Spot"}.get(o.strategy, "flex-start")
        if o.unknown:
            shown.append(f"{name}: " + "; ".join(o.unknown))
            continue
        text = f"{name} {usd(o.job_usd_per_hour)}/h per job"
        if estimate.jobs != 1:
            text += f", {usd(o.sweep_usd_per_hour)}/h for all {estimate.jobs}"
        if o.max_usd is not None:
            text += f", at most {usd(o.max_usd)}"
        shown.append(text)
    warnings = "".join(f"<div style='color:#b06000'>⚠ {html.escape(w)}</div>"
                       for w in estimate.warnings)
    return (f"<div class='caliban-form-cost'>Estimated cost (list prices as of "
            f"{html.escape(estimate.as_of)}, {html.escape(estimate.region)}): "
            f"{html.escape(' · '.join(shown))}</div>{warnings}")

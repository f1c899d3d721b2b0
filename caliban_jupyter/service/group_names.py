"""Default experiment group names that no two submissions share.

The default name, ``{user}-xgroup-{timestamp}``, is the same for every submission started
in the same second (processes, kernels, machines). Each would then land in one group with
the same indices, and stopping or resubmitting one would act on the others. So a default
name is claimed before any job is created: the first of ``NAME``, ``NAME-2``, ``NAME-3``...
that neither the history nor the job service knows, taken with one insert-or-ignore in the
shared history (a SQLite write transaction), so of several processes exactly one wins it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import SubmissionError
from ..events import Info, Progress, ignore
from ..spec.labels import XGROUP_KEY

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..history import History
    from ..spec.jobs import JobSpec
    from .plan import Plan

#: Longest group name (it is a label value).
MAX_NAME = 63


def claim_group(plan: Plan, backend: Backend, history: History, *, listed: bool | None = None,
                progress: Progress = ignore) -> str:
    """The group ``plan`` submits into: ``--xgroup`` as given, else a free default name.

    Parameters
    ----------
    listed
        Whether the backend already has jobs labeled with the plan's name (None: ask it).
    """
    if plan.request.xgroup or plan.claimed:
        return plan.xgroup  # named by the user (adding to a group is intended), or claimed

    def taken(name: str, n: int) -> bool:
        if listed is not None and n == 1:
            return listed
        return next(iter(backend.list_group(name)), None) is not None

    return _claim(plan, history, backend.name, backend.project, taken, progress)


def reserve_group(plan: Plan, history: History | None = None,
                  progress: Progress = ignore) -> Plan:
    """``plan`` with its default group name claimed now, in the history only (no job
    service call): for a front end that must name the group before it submits in the
    background (the Jupyter server's 202).
    :func:`~caliban_jupyter.service.submission.execute` then submits into it as claimed,
    and gives it back if nothing gets recorded."""
    from ..history import History

    if plan.request.xgroup or plan.claimed:
        return plan
    s = plan.settings
    project = s.project_id or plan.service.default_project
    if history is None:
        with History() as opened:
            return reserve_group(plan, opened, progress)
    name = _claim(plan, history, s.backend, project, lambda name, n: False, progress)
    return replace(_relabeled(plan, name), claimed=True)


def _claim(plan: Plan, history: History, backend: str, project: str,
           taken: Callable[[str, int], bool], progress: Progress) -> str:
    """The first of NAME, NAME-2, ... free in the history and not ``taken``, claimed."""
    from .submit import sweep_region

    base = plan.xgroup
    region = sweep_region(plan.specs, plan.settings.region)
    for n in range(1, 1000):
        suffix = f"-{n}" if n > 1 else ""
        name = base[:MAX_NAME - len(suffix)] + suffix
        if history.group(name) is not None or taken(name, n):
            continue
        if history.claim_group(name, backend=backend, project=project, region=region):
            if name != base:
                progress(Info(f"experiment group {base} is taken by another submission: "
                              f"this one is {name}"))
            return name
    raise SubmissionError(f"could not find a free experiment group name like {base}; "
                          "pass --xgroup NAME")


def in_claimed_group(plan: Plan, backend: Backend, history: History, *,
                     listed: bool | None = None, progress: Progress = ignore) -> Plan:
    """``plan`` in the group :func:`claim_group` gives it, its jobs relabeled if the name
    gained a suffix; ``claimed`` when the name is this submission's own (a default)."""
    if plan.request.xgroup or plan.claimed:
        return plan
    return replace(_relabeled(plan, claim_group(plan, backend, history, listed=listed,
                                                progress=progress)), claimed=True)


def _relabeled(plan: Plan, xgroup: str) -> Plan:
    if xgroup == plan.xgroup:
        return plan
    return replace(plan, xgroup=xgroup, specs=tuple(_moved(s, plan, xgroup)
                                                    for s in plan.specs))


def _moved(spec: JobSpec, plan: Plan, xgroup: str) -> JobSpec:
    """``spec`` in group ``xgroup``: its label, and its output location, which is named
    after the group (``{output_dir}/{xgroup}/{job}/``)."""
    spec = spec.with_labels({XGROUP_KEY: xgroup})
    if plan.output_dir and spec.output_uri:
        from ..spec.outputs import job_output_uri

        spec = replace(spec, output_uri=job_output_uri(plan.output_dir, xgroup,
                                                       spec.display_name))
    return spec

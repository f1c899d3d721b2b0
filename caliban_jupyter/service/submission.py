"""Submitting a plan: the checks that fail fast, the group's name, the build (or the
staging of a code package), then every job exactly once.

The history and the job service are checked before the build, and an ``--image_tag``
looked up: an unreachable endpoint, missing credentials or an image that does not exist
fail in seconds, with nothing built or recorded. A default group name (no ``--xgroup``)
is then claimed in the history, atomically (see :mod:`~caliban_jupyter.service.group_names`):
when another submission already uses it, a short suffix makes it unique, and a failure
before any job is recorded gives the name back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import events as ev
from ..events import Progress, Warning_, ignore

if TYPE_CHECKING:
    from ..records import JobRecord
    from .groups import JobGroup
    from .plan import Plan


def submit(plan: Plan, progress: Progress = ignore, *, group: JobGroup | None = None
           ) -> JobGroup:
    """Submit ``plan`` (see :func:`execute`) and hand back the group's handle.

    The handle exists from the first moment: pass one made with
    :meth:`JobGroup.planned <caliban_jupyter.service.groups.JobGroup.planned>` to follow
    its ``phase`` (building an image or uploading a code package, submitting, then
    submitted or failed, with ``error``) while this runs in the background. Its records
    are the jobs as submitted, in the group they went to. Raises what :func:`execute`
    raises, the handle then ``failed``.
    """
    from ..errors import CalibanError
    from .groups import JobGroup

    group = group or JobGroup.planned(plan.xgroup, plan.settings, progress=progress)

    def follow(event: ev.Event) -> None:
        if isinstance(event, (ev.ImageReady, ev.JobSubmitted, ev.JobFailedToSubmit)):
            if group.phase in ("planned", "building", "uploading"):
                group.advance("submitting")
        progress(event)

    mode = plan.build.mode if plan.build is not None else "docker"
    group.advance({"image": "submitting", "package": "uploading"}.get(mode, "building"))
    try:
        records = execute(plan, follow)
    except CalibanError as e:
        group.advance("failed", error=str(e), records=getattr(e, "records", None))
        raise
    except BaseException as e:
        group.advance("failed", error=f"{type(e).__name__}: {e}")
        raise
    group.advance("submitted", records=records)
    return group


def execute(plan: Plan, progress: Progress = ignore) -> list[JobRecord]:
    """Build or reuse the image (or stage the code package), then submit every job
    exactly once (see the module docstring for the order).

    Notes (what the program will not run, labels changed) are reported first, as
    warnings. Returns the sweep's records, in the group they went to (a default name may
    gain a suffix). Front ends call :func:`submit`, which hands back the group's handle.
    """
    from ..backends import get_backend
    from ..errors import BackendError
    from ..history import History
    from .build import build_request
    from .group_names import in_claimed_group
    from .submit import submit_sweep

    for note in (*plan.request.program_notes, *plan.notes, *plan.warnings):
        progress(Warning_(note))
    # Checked before the build: failing after it would leave every job NOT_SUBMITTED.
    history = History()
    try:
        backend = get_backend(plan.settings, progress)
        try:
            listed = next(iter(backend.list_group(plan.xgroup)), None) is not None
        except BackendError as e:
            raise BackendError(f"{e}. Nothing was built or submitted: check the job "
                               f"service ({plan.backend} backend) and submit again") from None
        if plan.image is not None:
            from ..packaging.image_check import require_image

            require_image(plan.image, local=plan.service.local_images, progress=progress)
        plan = in_claimed_group(plan, backend, history, listed=listed, progress=progress)
        if plan.build is not None and plan.build.mode in ("package", "cloudbuild"):
            from .build import make_runnable

            specs = make_runnable(plan, build_request(plan), backend, history, progress)
        else:
            image = plan.image
            if image is None:
                from ..packaging.docker import ensure_image

                image = ensure_image(build_request(plan), progress).tag
            specs = [replace(s, image_uri=image) for s in plan.specs]
        if plan.tuning is not None:
            from .tuning import submit_tuning

            return submit_tuning(specs[0], plan.tuning, backend, history, xgroup=plan.xgroup,
                                 progress=progress)
        return submit_sweep(specs, backend, history, xgroup=plan.xgroup, progress=progress)
    except BaseException:
        if plan.claimed and plan.request.xgroup is None:
            history.release_group(plan.xgroup)  # ours, and only if no job is recorded
        raise
    finally:
        history.close()

"""Making a plan's jobs runnable, in the way ``--build`` chose (see packaging/modes.py).

``package``: the code package is planned (content-hashed sdists), built into the local
cache, staged once (a bucket, or the local emulator's directory) and each job gets a
:class:`~caliban_jupyter.spec.executors.PackageRun`. ``cloudbuild``: the Docker context is
built on Cloud Build. (``docker`` and ``--image_tag`` stay in
:func:`~caliban_jupyter.service.submission.execute`.) :func:`build_request` is what a
Docker or Cloud Build build of the plan is asked for, and :func:`image_repository` where
its image goes.

The dry run uses :func:`dry_run` for the same decisions without uploading or building:
the jobs' request bodies and the build plan (what would be uploaded where, what runs the
jobs, what is installed when they start).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StagingError
from ..events import Info, Progress, Warning_, ignore
from ..spec.executors import PackageRun
from ..spec.jobs import JobSpec

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..history import History
    from ..packaging.context import BuildRequest
    from ..packaging.package import PackagePlan
    from ..packaging.staging import Staging
    from .plan import Plan


def package_cache() -> Path:
    """Where built packages are kept (``$CALIBAN_HOME/packages``), for resubmissions."""
    from ..history import caliban_home

    return caliban_home() / "packages"


def _location(plan: Plan) -> Staging:
    from ..packaging.staging import staging_location

    s = plan.settings
    assert plan.build is not None
    return staging_location(plan.build.staging, project=s.project_id, cloud_key=s.cloud_key,
                            local_root=plan.service.local_staging())


def _package_specs(plan: Plan, package: PackagePlan, location: Staging) -> list[JobSpec]:
    assert plan.build is not None and plan.build.executor is not None
    run = PackageRun(tuple(location.uri(p.name) for p in package.parts),
                     executor=plan.build.python_package_spec)
    return [replace(s, image_uri=plan.build.executor.uri, package=run) for s in plan.specs]


# ---------------------------------------------------------------------------- dry run


def dry_run(plan: Plan, req: BuildRequest | None) -> tuple[dict[str, Any], list[JobSpec]]:
    """The build plan (JSON) and the jobs as they would be sent. Uploads nothing."""
    choice = plan.build
    info: dict[str, Any] = choice.to_json() if choice is not None else {"mode": "docker"}
    if choice is None or choice.mode in ("docker", "image") or req is None:
        return info, list(plan.specs)
    location = _location(plan)
    if choice.mode == "cloudbuild":
        from ..packaging.cloudbuild import BUILDER
        from ..packaging.context import TAG_LENGTH, plan_context
        from ..packaging.staging import CONTEXTS

        ctx = plan_context(req)
        name = f"{req.image_name}-{ctx.digest[:TAG_LENGTH]}.tar.gz"
        info.update(image=ctx.tag, builder=BUILDER, skipped_when="the registry has the tag",
                    uploads=[{"name": name, "uri": location.uri(name, CONTEXTS),
                              "files": len(ctx.files), "content_bytes": ctx.size}])
        return info, [s.with_image(ctx.tag) for s in plan.specs]
    from ..packaging.package import plan_package

    package = plan_package(req)
    info.update(
        uploads=[{"name": p.name, "module": p.module, "uri": location.uri(p.name),
                  "files": p.files, "content_bytes": p.content_bytes} for p in package.parts],
        upload_rule="each file is uploaded once: skipped when the object already exists",
        requirements={"installed": "when each job starts, before the program",
                      "what": package.install_summary()},
        entrypoint=list(package.entrypoint))
    if package.warnings:
        info["warnings"] = [*info.get("warnings", []), *package.warnings]
    return info, _package_specs(plan, package, location)


# ---------------------------------------------------------------------------- execute


def make_runnable(plan: Plan, req: BuildRequest, backend: Backend, history: History,
                  progress: Progress = ignore) -> list[JobSpec]:
    """Build or stage what the jobs run; return their specs ready to submit."""
    choice = plan.build
    assert choice is not None and choice.mode in ("package", "cloudbuild")
    if choice.reason:
        what = "your code goes as a package on a prebuilt image" if choice.mode == "package" \
            else "building elsewhere"
        progress(Info(f"build: {choice.mode} ({choice.reason}): {what}; --build docker "
                      "insists on Docker"))
    for warning in choice.warnings:
        progress(Warning_(warning))
    if choice.mode == "cloudbuild":
        return _cloudbuild(plan, req, progress)
    return _package(plan, req, backend, history, progress)


def _cloudbuild(plan: Plan, req: BuildRequest, progress: Progress) -> list[JobSpec]:
    from ..packaging import cloudbuild
    from ..packaging.staging import GcsStaging, google_credentials

    s = plan.settings
    assert plan.build is not None and plan.build.staging is not None and s.project_id
    credentials = google_credentials(s.cloud_key)
    staging = GcsStaging(plan.build.staging, project=s.project_id, cloud_key=s.cloud_key)
    result = cloudbuild.ensure_image(req, project=s.project_id, region=s.region,
                                     staging=staging, credentials=credentials,
                                     progress=progress)
    return [s.with_image(result.tag) for s in plan.specs]


def _package(plan: Plan, req: BuildRequest, backend: Backend, history: History,
             progress: Progress) -> list[JobSpec]:
    from ..packaging.package import build_part, plan_package
    from ..packaging.staging import stage_all

    cache = package_cache()
    package = plan_package(req, memo=cache / ".data-digests.json")
    for warning in package.warnings:
        progress(Warning_(warning))
    location = _location(plan)
    specs = _package_specs(plan, package, location)
    try:
        stage_all(location, [(part.name, partial(_build, part, cache, build_part))
                             for part in package.parts], progress=progress)
    except StagingError as e:
        reason = f"not submitted: {e}"
        _record_not_submitted(plan, specs, backend, history, reason)
        raise StagingError(
            f"{e}\nNothing was submitted: the {len(specs)} jobs of group {plan.xgroup!r} are "
            f"recorded as NOT_SUBMITTED with this reason (caliban status --xgroup "
            f"{plan.xgroup}). Submit again, or run `caliban resubmit --xgroup {plan.xgroup}` "
            "once the upload can succeed (it uploads the package kept in "
            f"{cache}).") from None
    assert plan.build is not None and plan.build.executor is not None
    progress(Info(f"jobs run on {plan.build.executor.describe()}; installed when each job "
                  f"starts: {package.install_summary()}"))
    return specs


def _build(part: Any, cache: Path, build_part: Any) -> Path:
    try:
        return build_part(part, cache)
    except OSError as e:
        raise StagingError(f"writing {part.name} to {cache} failed: {e.strerror}; check the "
                           "disk and the permissions of CALIBAN_HOME") from None


def _record_not_submitted(plan: Plan, specs: list[JobSpec], backend: Backend,
                          history: History, reason: str) -> None:
    """Record the group and its jobs as NOT_SUBMITTED, with ``reason``."""
    from ..records import record_for_spec
    from .submit import prepare_specs

    prepared = prepare_specs(specs, plan.xgroup)
    history.add_group(plan.xgroup, backend=backend.name, project=backend.project,
                      region=plan.settings.region)
    history.add_experiments(plan.xgroup, [(s.index, s.args, s.experiment)
                                          for s, _, _ in prepared])
    history.put_jobs([record_for_spec(s, submission_id=sid, xgroup=plan.xgroup,
                                      backend=backend.name, project=backend.project,
                                      error=reason, body=body) for s, sid, body in prepared])


def restage(specs: list[JobSpec], *, project: str | None, cloud_key: str | None,
            progress: Progress = ignore) -> None:
    """Before a resubmission: upload again any package its jobs need that is missing
    from staging (from the local cache)."""
    from ..packaging.staging import ensure_staged

    uris = [u for s in specs if s.package is not None for u in s.package.package_uris]
    if uris:
        ensure_staged(uris, package_cache(), project=project, cloud_key=cloud_key,
                      progress=progress)


# -- the image: what a Docker or Cloud Build build is asked for ---------------------------

def build_request(plan: Plan) -> BuildRequest:
    """The packaging request for this plan's image."""
    from ..packaging.context import BuildRequest
    from ..packaging.jobfiles import (
        OUTPUTS_RUNNER,
        notebook_command,
        outputs_command,
        runtime_files,
    )
    from ..spec.target import PROGRAM_FILE

    req = plan.request
    generated: dict[str, bytes] = {}
    entrypoint: tuple[str, ...] | None = None
    notebook = plan.target is not None and plan.target.kind == "notebook"
    # A search's trials report the metric variable through the runner (a module or a
    # bash script reports it itself, with cloudml-hypertune).
    metric = plan.tuning.metric if plan.tuning is not None else None
    script = plan.target is not None and plan.target.kind == "script"
    if plan.program is not None:
        generated[PROGRAM_FILE] = plan.program.encode()
        entrypoint = ("python3", PROGRAM_FILE)
        if plan.outputs or metric:
            entrypoint = outputs_command(PROGRAM_FILE, plan.outputs, metric)
    elif notebook:
        assert plan.target is not None
        entrypoint = notebook_command(plan.target.path, plan.outputs, metric)
    elif (plan.outputs or (metric and script)) and plan.target is not None:
        entrypoint = outputs_command(plan.target.path, plan.outputs,
                                     metric if script else None)
    if plan.outputs or notebook or (entrypoint and OUTPUTS_RUNNER in entrypoint):
        generated.update(runtime_files(notebook=notebook))
    return BuildRequest(
        cwd=str(Path(req.cwd).resolve()), target=plan.target, dirs=tuple(req.dirs),
        extras=tuple(req.extras), gpu=plan.settings.gpu,
        base_image=plan.settings.base_image, apt_packages=plan.settings.apt_packages,
        registry=plan.settings.registry, image_name=_image_name(plan),
        cloud_key=plan.settings.cloud_key, generated_files=generated, entrypoint=entrypoint,
        requirements=tuple(req.requirements), modules=tuple(req.program_modules),
        notebook_runtime=notebook,
    )


def image_repository(plan: Plan) -> str:
    """``{registry}/{name}``, or just ``{name}`` for an image kept on the local engine."""
    name = _image_name(plan)
    return f"{plan.settings.registry.rstrip('/')}/{name}" if plan.settings.registry else name


def _image_name(plan: Plan) -> str:
    base = plan.target.package_root if plan.target else "notebook"
    if base == ".":
        base = Path(plan.request.cwd).resolve().name
    clean = re.sub(r"[^a-z0-9._-]", "-", base.lower()).strip("-._") or "job"
    return f"caliban-{clean}"

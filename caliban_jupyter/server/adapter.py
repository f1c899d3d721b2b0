"""The one place the server extension calls the service layer.

Every handler and the refresher go through these functions, which use the same service
layer as the CLI and the magics (a :class:`~caliban_jupyter.service.groups.JobGroup` for
refresh, stop, resubmit and logs, :mod:`caliban_jupyter.service.plan` for submissions, the
history for what every process recorded). Nothing here decides anything about jobs; it
turns REST input into those calls and their results into JSON. When the service layer
moves, only this module follows it.

All functions are blocking (SQLite, the job service, a build): handlers run them on the
extension's thread pool. Importing this module imports no Docker and no Google SDK.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UsageError
from ..history import GroupRecord, History
from ..records import NOT_SUBMITTED, TERMINAL_STATES, JobRecord

if TYPE_CHECKING:
    from ..events import Progress
    from ..service.groups import BackendClients, JobGroup
    from ..service.plan import Plan
    from ..settings import Settings

#: States after which a job changes no more by itself (never-submitted jobs included).
DONE_STATES = TERMINAL_STATES | {NOT_SUBMITTED}


# -- reading the history ------------------------------------------------------------------

def group_summary(group: GroupRecord, counts: Mapping[str, int], *,
                  submitting: bool = False) -> dict[str, Any]:
    """``{"xgroup", "backend", "project", "region", "created", "total", "counts",
    "finished"}``: a group as the panel lists it. ``submitting``: a submission of the
    group is under way (its ``NOT_SUBMITTED`` jobs are about to be created, not failed),
    so the group is not finished whatever its states say."""
    total = sum(counts.values())
    return {**group.to_json(), "total": total, "counts": dict(counts),
            "finished": (total > 0 and not submitting
                         and all(s in DONE_STATES for s in counts))}


def submitting_groups(history: History, xgroups: Sequence[str]) -> set[str]:
    """Of ``xgroups``, those a submission (of any process: CLI, kernel, this server) is
    still creating jobs of, read from the shared history alone.

    Every submission records its jobs ``NOT_SUBMITTED`` with the pending reason before it
    creates them, then records each outcome (a job's state, or a refusal's reason); Ctrl-C
    records the never-created ones as interrupted. So a latest attempt still carrying the
    pending reason is a create under way. (A submitter killed outright leaves that reason
    too: such a group reads as under way until ``caliban resubmit`` completes it.)
    """
    from ..service.submit import PENDING_REASON

    return history.groups_with_latest(xgroups, state=NOT_SUBMITTED, error=PENDING_REASON)


def list_groups(history: History, *, page_size: int, offset: int
                ) -> tuple[list[dict[str, Any]], int | None]:
    """One page of groups, newest first, and the offset of the next page (None: last)."""
    groups = history.latest_groups(page_size + 1, offset=offset)
    more = len(groups) > page_size
    groups = groups[:page_size]
    names = [g.xgroup for g in groups]
    counts = history.state_counts(names)
    submitting = submitting_groups(history, names)
    return ([group_summary(g, counts[g.xgroup], submitting=g.xgroup in submitting)
             for g in groups],
            offset + page_size if more else None)


def job_json(record: JobRecord, *, full: bool = False) -> dict[str, Any]:
    """A job's :class:`~caliban_jupyter.records.JobRecord` JSON; without ``full``, less the
    ``request`` body it was created from (kilobytes per job, which a panel never shows)."""
    from ..records import executed_notebook_url

    out = record.to_json()
    # A notebook job's executed notebook, once it ended (the panel links it).
    out["notebook_url"] = executed_notebook_url(record) if record.is_terminal else None
    if not full:
        out.pop("request", None)
    return out


def group_detail(history: History, xgroup: str, *, all_attempts: bool = False,
                 full: bool = False) -> dict[str, Any]:
    """A group's summary with its ``jobs`` (each job once, by its latest attempt, unless
    ``all_attempts``). Raises :class:`NotFoundError` for a group the history lacks."""
    from ..records import latest_attempts

    group = history.group(xgroup)
    if group is None:
        raise NotFoundError(f"no experiment group {xgroup!r} in the job history "
                            f"{history.path}; list the recorded groups with GET "
                            "/caliban/api/groups")
    records = history.jobs(xgroup)
    shown = records if all_attempts else latest_attempts(records)
    summary = group_summary(group, history.state_counts([xgroup])[xgroup],
                            submitting=bool(submitting_groups(history, [xgroup])))
    return {**summary, "jobs": [job_json(r, full=full) for r in shown]}


def unfinished_groups(history: History) -> list[str]:
    """The groups a refresh may still change: some job is not in a final state."""
    return history.groups_with_states_outside(DONE_STATES)


# -- following groups ---------------------------------------------------------------------

def server_settings(cwd: str | os.PathLike[str]) -> Settings:
    """The settings of the server's root (environment, ``.calibanconfig.json``)."""
    from ..settings import resolve_settings

    return resolve_settings({}, gpu=False, cwd=cwd)


def backend_clients() -> BackendClients:
    """A cache of connected job services, one per (service, project, region)."""
    from ..service.groups import BackendClients

    return BackendClients()


def recorded_group(history: History, xgroup: str, settings: Settings,
                   clients: BackendClients) -> JobGroup:
    """The handle of a recorded group, on ``clients``' connection to its service; its
    :meth:`~caliban_jupyter.service.groups.JobGroup.refresh` is one listing of it into
    the history (one list call per page)."""
    return clients.group(history, xgroup, settings)


def _indices(history: History, xgroup: str, names: Sequence[str]) -> set[int]:
    """The job indices of the display names ``names`` (any attempt's name)."""
    by_name = {r.display_name: r.index for r in history.jobs(xgroup)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise NotFoundError(f"no job named {missing[0]!r} in experiment group {xgroup!r}; "
                            "use the display names GET /caliban/api/groups/"
                            f"{xgroup} lists")
    return {by_name[n] for n in names}


def _check_names(names: Any) -> list[str] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError(f'"jobs" takes a list of job display names, not {names!r}')
    return names


def stop(history: History, xgroup: str, settings: Settings, *,
         jobs: Any = None) -> list[JobRecord]:
    """``caliban stop --xgroup X`` (only the named jobs with ``jobs``)."""
    from ..service.groups import JobGroup

    history.require_group(xgroup)
    names = _check_names(jobs)
    indices = _indices(history, xgroup, names) if names is not None else None
    return JobGroup(xgroup, settings=settings, history=history).stop(indices)


def resubmit(history: History, xgroup: str, settings: Settings, *, jobs: Any = None,
             all_jobs: Any = False) -> list[JobRecord]:
    """``caliban resubmit --xgroup X [--all_jobs]`` (exactly the named jobs with ``jobs``)."""
    from ..service.groups import JobGroup

    history.require_group(xgroup)
    if not isinstance(all_jobs, bool):
        raise UsageError(f'"all_jobs" takes true or false, not {all_jobs!r}')
    names = _check_names(jobs)
    indices: Collection[int] | None = (_indices(history, xgroup, names)
                                       if names is not None else None)
    return JobGroup(xgroup, settings=settings, history=history).resubmit(
        indices, all_jobs=all_jobs)


def logs(history: History, job: str, settings: Settings, *, xgroup: str | None = None,
         tail: int | None = None) -> str:
    """``caliban logs JOB [--tail N]``."""
    from ..service.track import logs as _logs

    return _logs(job, xgroup=xgroup, tail=tail, settings=settings, history=history)


# -- settings and the catalog -------------------------------------------------------------

def config(cwd: str | os.PathLike[str], *, nogpu: bool) -> dict[str, Any]:
    """The effective settings of a submission from ``cwd``, each with where it came from."""
    from ..settings import resolve_settings

    settings = resolve_settings({}, gpu=not nogpu, cwd=cwd)
    values = settings.to_json()
    mode = values.pop("mode")
    return {"mode": mode, "settings": [
        {"name": k, "value": v, "source": settings.sources.get(k, "default")}
        for k, v in values.items()]}


def catalog(*, kind: str = "GPU", accelerator: str | None = None, count: int | None = None,
            region: str | None = None) -> dict[str, Any]:
    """What a form may offer given what is picked (the widget form's own choices), and
    the installed job services."""
    from ..service.backends import backend_catalog
    from ..spec import choices
    from ..spec.catalog import get_catalog

    if kind not in choices.KINDS:
        raise UsageError(f"kind must be one of {', '.join(choices.KINDS)}, not {kind!r}")
    offered, hidden = choices.accelerator_options(kind, region)
    return {
        "kinds": list(choices.KINDS),
        "accelerators": offered,
        "hidden_accelerators": hidden,
        "counts": choices.count_options(accelerator) if kind != "none" else [],
        "machine_types": choices.machine_options(kind, accelerator, count, region),
        "regions": choices.region_options(kind, accelerator),
        "catalog": get_catalog().info(),
        # The installed job services (the lab dialog's backend choices).
        "backends": backend_catalog(),
    }


# -- notebooks and submissions ------------------------------------------------------------

def confine(root: str | os.PathLike[str], notebook: Any) -> Path:
    """The notebook ``notebook`` names, relative to the server's ``root``; never outside it
    (no ``..``, no absolute path, no symlink leading out)."""
    if not isinstance(notebook, str) or not notebook.strip():
        raise UsageError('"notebook" takes the path of a .ipynb file relative to the '
                         f"server's root, not {notebook!r}")
    base = Path(root).resolve()
    relative = notebook.strip().lstrip("/")
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise UsageError(f"notebook {notebook!r} is outside the server's root; give a path "
                         "relative to the root the file browser shows")
    if path.suffix != ".ipynb":
        raise UsageError(f"notebook {notebook!r} is not a .ipynb file; Run as job sends "
                         "notebooks (use `caliban cloud` for modules and scripts)")
    if not path.is_file():
        raise NotFoundError(f"notebook {notebook!r} does not exist under the server's root; "
                            "save it first")
    return path


def notebook_parameters(path: Path) -> list[dict[str, str]]:
    """The names the notebook's cell tagged ``parameters`` assigns, with their source
    text: the defaults an experiment config overrides (papermill's convention)."""
    import nbformat

    from ..errors import TargetError

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as e:
        raise TargetError(f"{path.name} is not a readable Jupyter notebook ({e})") from None
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get(
                "metadata", {}).get("tags", ()):
            source = cell.source
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            out = []
            for node in tree.body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    text = ast.get_source_segment(source, node.value) or ""
                    out += [{"name": t.id, "value": text} for t in targets
                            if isinstance(t, ast.Name)]
            return out
    return []


def _submission_parser():
    from ..flags import add_cloud_arguments
    from ..flags_parse import MagicParser

    parser = MagicParser(prog="Run as job")
    add_cloud_arguments(parser, module=False)
    return parser


def plan_notebook(root: str | os.PathLike[str], notebook: Any, options: Any, *,
                  script_args: Any = (), dry_run: bool = False) -> Plan:
    """Validate a notebook submission as ``caliban cloud [options] NOTEBOOK`` run from the
    notebook's directory would. ``options`` holds caliban cloud's flags as keys; its
    ``experiment_config`` is the config itself (a dict, a list, or its JSON text with
    comments), never a path on the server; so is ``tune``, the search space."""
    from ..flags_parse import namespace_from_options
    from ..service.plan import CloudRequest, plan_from_request
    from ..spec.experiments import expand_experiment_config

    path = confine(root, notebook)
    if not isinstance(options, Mapping):
        raise UsageError(f'"options" takes an object of caliban cloud flags, not {options!r}')
    if not isinstance(script_args, (list, tuple)) or not all(
            isinstance(a, str) for a in script_args):
        raise UsageError(f'"script_args" takes a list of strings, not {script_args!r}')
    options = dict(options)
    config = options.pop("experiment_config", None)
    if isinstance(options.get("tune"), str):
        # A search space is given as its JSON text (or a dict), never a path on the server.
        from ..spec.commented_json import parse_commented_json

        options["tune"] = parse_commented_json(options["tune"], "tune")
    args = namespace_from_options(_submission_parser(), options, what="options")
    args.experiment_config = config = _experiment_config(config)
    args.module = path.name
    args.script_args = list(script_args)
    args.dry_run = bool(dry_run or args.dry_run)
    # Loaded (validated) above: the plan takes it expanded, without loading it again.
    return plan_from_request(CloudRequest.from_namespace(args, cwd=str(path.parent)),
                             experiments=None if config is None
                             else expand_experiment_config(config))


def _experiment_config(value: Any) -> Any:
    from ..spec.commented_json import parse_commented_json
    from ..spec.experiments import load_experiment_config

    if isinstance(value, str):
        if not value.strip():
            return None
        value = parse_commented_json(value, "experiment_config")
    if value is None:
        return None
    return load_experiment_config(value)


def dry_run(plan: Plan) -> dict[str, Any]:
    """What a submission would create: the jobs and their CustomJob bodies (each body
    built once, for its job's record and for ``requests``)."""
    from ..records import record_for_spec
    from ..service.dryrun import dry_run_plan, planned_image

    specs = dry_run_plan(plan)[1]
    bodies = [spec.to_custom_job() for spec in specs]
    jobs = [record_for_spec(spec, submission_id="", xgroup=plan.xgroup, backend=plan.backend,
                            project=plan.settings.project_id or "",
                            error="dry run: not submitted", body=body)
            for spec, body in zip(specs, bodies, strict=True)]
    from ..service.dryrun import plan_cost

    return {"xgroup": plan.xgroup, "image": planned_image(plan),
            "jobs": [job_json(j) for j in jobs], "requests": bodies,
            "cost": plan_cost(plan, bodies).to_json()}


def refuse_over_max_cost(plan: Plan) -> None:
    """A submission from the lab has nobody to ask: above ``max_cost`` it is refused."""
    from ..service.costs import refuse_over_max_cost as refuse

    refuse(plan)


def plan_summary(plan: Plan) -> dict[str, Any]:
    """Where a planned group will live, before anything is recorded."""
    s = plan.settings
    return {"xgroup": plan.xgroup, "backend": s.backend, "project": s.project_id or "",
            "region": s.region, "total": len(plan.specs)}


def planned_group(plan: Plan) -> JobGroup:
    """The handle of a submission about to start (its phase: planned)."""
    from ..service.groups import JobGroup

    return JobGroup.planned(plan.xgroup, plan.settings)


def execute(plan: Plan, progress: Progress, *, group: JobGroup | None = None) -> JobGroup:
    """Build (or reuse) the image and submit the jobs, as ``caliban cloud`` does; the
    group's handle (``group``, when the caller made it to follow its phase)."""
    from ..service.submission import submit

    return submit(plan, progress, group=group)

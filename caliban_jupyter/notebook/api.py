"""The Python API: what the magics do, as functions.

``cloud(target, *script_args, **options)`` submits a module, script, notebook or a string
of code; ``status``, ``stop``, ``resubmit``, ``logs`` and ``config`` are the twins of the
line magics. User mistakes raise :class:`~caliban_jupyter.errors.CalibanError` before
anything is built or submitted.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..events import Progress
from ..service.dryrun import DryRun
from .args import cloud_parser, namespace_from_options
from .session import get_config, submitting
from .sweep import Sweep

__all__ = ["cloud", "config", "follow_logs", "last", "logs", "outputs", "resubmit", "status",
           "stop"]

# A module (trainer.train) or a path (train.py, ../x/run.sh); anything else is code.
_TARGET_RE = re.compile(r"[\w.\-/\\~]+")


def cloud(target: str, *script_args: Any, progress: Progress | None = None,
          **options: Any) -> Sweep | DryRun:
    """Package ``target`` into an image and submit one job per experiment.

    Parameters
    ----------
    target
        A module (``"trainer.train"``), a script or notebook path, or a string of Python
        code, which is captured like a ``%%caliban_cloud`` cell (with what it needs from
        the cells already run in this kernel).
    *script_args
        Arguments for every job, before each experiment's ``--key value`` flags.
    progress
        Receives progress events; default: bars and lines in the running cell.
    **options
        ``caliban cloud``'s flags as keywords: ``nogpu=True``, ``gpu_spec="2xV100"``,
        ``experiment_config={...}`` or a path, ``dir=["data"]`` (or ``dirs``),
        ``label=["k=v"]`` (or ``labels={"k": "v"}``), ``backend="local"``,
        ``dry_run=True``, ``capture="all"``, ...

    Returns
    -------
    Sweep or DryRun
        The submitted jobs, or (``dry_run=True``) the jobs that would be submitted.

    Raises
    ------
    CalibanError
        For any user mistake (unknown option, bad spec, undefined name in the code...),
        before anything is built or submitted.
    """
    args = namespace_from_options(cloud_parser("caliban_jupyter.cloud"), options,
                                  what="caliban_jupyter.cloud()")
    args.script_args = [str(a) for a in script_args]
    if not isinstance(target, str) or not target.strip():
        raise UsageError("caliban_jupyter.cloud(): target must be a module, a path or a "
                         f"string of code, not {target!r}")
    if is_target(target):
        args.module = target.strip()
        return run_cloud(args, progress=progress)
    from .session import _current_shell

    shell = _current_shell()
    return run_cloud(args, code=target, history=kernel_history(), progress=progress,
                     user_ns=shell.user_ns if shell is not None else None)


def is_target(target: str, cwd: str | None = None) -> bool:
    """Whether ``target`` names a module or file rather than being code: an existing file
    always is (``"my analysis.ipynb"``), else anything shaped like a module or a path."""
    name = target.strip()
    if os.path.isfile(os.path.join(cwd or os.getcwd(), name)):
        return True
    return _TARGET_RE.fullmatch(name) is not None


def run_cloud(args: argparse.Namespace, *, code: str | None = None,
              history: Sequence[str] = (), user_ns: Mapping[str, Any] | None = None,
              cwd: str | None = None, progress: Progress | None = None) -> Sweep | DryRun:
    """Plan and submit a parsed ``%%caliban_cloud`` / ``cloud()`` request.

    ``code`` is a cell body to capture against ``history``; otherwise ``args.module`` is
    the target. ``user_ns`` lets ``--experiment_config`` name a kernel variable.
    """
    from ..service.plan import plan_from_request
    from ..service.submission import submit

    request, experiments = cell_request(args, code=code, history=history, user_ns=user_ns,
                                        cwd=cwd)
    plan = plan_from_request(request, experiments=experiments)
    if request.dry_run:
        return _remember(DryRun(plan))
    _confirm_cost(plan)
    if progress is None:
        from ..progress import CellProgress

        shown = CellProgress()
        try:
            with submitting(plan.xgroup) as submitted:
                group = submit(plan, shown)
                submitted(group.records)
        finally:
            shown.close()
    else:
        with submitting(plan.xgroup) as submitted:
            group = submit(plan, progress)
            submitted(group.records)
    return _remember(Sweep(group))


def _confirm_cost(plan) -> None:
    """``max_cost``: a sweep estimated above it asks in the input box first."""
    from ..service.costs import over_max_cost

    reason = over_max_cost(plan)
    if reason is None:
        return
    from ..ask import ask_in_kernel

    if not ask_in_kernel(f"{reason[0].upper()}{reason[1:]}. Submit anyway?",
                         action="submit a sweep above max_cost",
                         refusal="raise max_cost (%config Caliban.max_cost, --max_cost)"):
        raise UsageError(f"nothing submitted: {reason}")


_LAST: list[Sweep | DryRun] = []


def _remember(result: Sweep | DryRun) -> Sweep | DryRun:
    _LAST[:] = [result]
    return result


def last() -> Sweep | DryRun:
    """The result of the last ``%%caliban_cloud`` cell or ``cloud()`` call of this kernel:
    its :class:`Sweep` (or :class:`DryRun`), also when the notebook assigns ``_`` itself
    (IPython then leaves ``_`` alone; ``Out[n]`` has it too)."""
    if not _LAST:
        raise UsageError("caliban_jupyter.last(): nothing was submitted from this kernel yet; "
                         "run a %%caliban_cloud cell or caliban_jupyter.cloud() first")
    return _LAST[0]


def cloud_request(args: argparse.Namespace, *, code: str | None = None,
                  history: Sequence[str] = (), user_ns: Mapping[str, Any] | None = None,
                  cwd: str | None = None):  # -> service.CloudRequest
    """The request :func:`run_cloud` submits (``%caliban_export`` writes it as files: a
    program to read and commit, so nothing is shipped from the kernel, all is replayed)."""
    return cell_request(args, code=code, history=history, user_ns=user_ns, cwd=cwd,
                        ship_values=False)[0]


def cell_request(args: argparse.Namespace, *, code: str | None = None,
                 history: Sequence[str] = (), user_ns: Mapping[str, Any] | None = None,
                 cwd: str | None = None, ship_values: bool = True
                 ):  # -> (service.CloudRequest, experiments or None)
    """The request :func:`run_cloud` submits, and the experiments its config expands to
    (``None`` without a config): loaded here once, for the captured program's parameters
    and for ``plan_from_request(request, experiments=...)``. With ``ship_values`` the
    values the cell reads ship from ``user_ns``; else (an export) everything is replayed."""
    from ..service.plan import CloudRequest
    from ..settings import job_flags
    from ..spec.experiments import expand_experiment_config, load_experiment_config

    cwd = cwd or os.getcwd()
    overrides: dict[str, Any] = {"cwd": cwd, "session": get_config().session()}
    expanded: list[dict[str, Any]] | None = None
    # An experiment config kept in .calibanconfig.json counts already here: its keys
    # become variables of the captured program.
    wanted = args.experiment_config
    if wanted is None:
        wanted = job_flags(cwd).get("experiment_config")
    source = _experiment_source(wanted, user_ns, cwd)
    if source is not None:
        config = load_experiment_config(source)
        expanded = expand_experiment_config(config)
        overrides["experiment_config"] = config
    parameter_sets: list[dict[str, Any]] = [{}] if expanded is None else expanded
    tune = getattr(args, "tune", None)
    if tune is not None:
        from ..service.tuning import load_tune

        # The searched parameters become the program's, as experiment keys do.
        tune = _variable_source("--tune", tune, user_ns, cwd, kinds=(dict,))
        overrides["tune"] = tune
        parameter_sets = [*parameter_sets, dict.fromkeys(load_tune(tune, cwd).names)]
    if code is not None:
        from ..service.cell_program import program_overrides

        overrides.update(program_overrides(code, history, args.capture or get_config().capture,
                                           parameter_sets, cwd,
                                           values=user_ns if ship_values else None))
    return CloudRequest.from_namespace(args, **overrides), expanded


def _experiment_source(value: Any, user_ns: Mapping[str, Any] | None, cwd: str) -> Any:
    """A path, or the dict/list held by the kernel variable ``value`` names."""
    return _variable_source("--experiment_config", value, user_ns, cwd, kinds=(dict, list))


def _variable_source(flag: str, value: Any, user_ns: Mapping[str, Any] | None, cwd: str, *,
                     kinds: tuple[type, ...]) -> Any:
    """A path, or the value of one of ``kinds`` held by the kernel variable ``value`` names
    (``--experiment_config`` and ``--tune`` take either)."""
    if value is None or not isinstance(value, str):
        return value
    what = "a dict or a list of dicts" if list in kinds else "a dict"
    if value.lower() == "stdin":
        raise UsageError(f"{flag} stdin: a notebook has no standard input; pass "
                         f"the name of a variable holding {what}, or a JSON file path")
    if user_ns is not None and value.isidentifier() and value in user_ns \
            and not Path(cwd, value).exists():
        held = user_ns[value]
        if not isinstance(held, kinds):
            raise UsageError(f"{flag} {value}: the variable {value!r} holds a "
                             f"{type(held).__name__}; it must hold {what}")
        return held
    if not Path(value).is_absolute():
        path = Path(cwd, value)
        if not path.exists() and value.isidentifier() and user_ns is not None:
            raise UsageError(f"{flag} {value}: no variable or file of that name; "
                             f"define {what} with that name, or give a JSON file path")
        return str(path)
    return value


def kernel_history() -> list[str]:
    """The raw source of the cells this kernel has run, excluding the running one.

    Indexed like IPython's ``In`` (entry 0 is empty), so notes and errors say ``In[k]``
    for the cell the notebook shows as ``[k]``.
    """
    from .session import _current_shell

    shell = _current_shell()
    if shell is None:
        return []
    raw = list(shell.history_manager.input_hist_raw)
    return raw[:running_cell(shell, raw)]


def running_cell(shell: Any, raw: Sequence[str]) -> int:
    """The ``In`` index of the running cell. IPython stores a cell before running it: at
    ``In[execution_count]`` up to IPython 8, at ``In[execution_count - 1]`` from IPython 9,
    which counts up first; either way it is the last entry."""
    return max(0, min(shell.execution_count, len(raw) - 1))


# ---------------------------------------------------------------------------- settings


class ConfigView:
    """The effective settings and where each came from (``%caliban_config``)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def rows(self) -> list[tuple[str, str, str]]:
        s = self.settings.to_json()
        return [(k, "" if v is None else str(v), self.settings.sources.get(k, ""))
                for k, v in s.items() if k != "mode"]

    def __repr__(self) -> str:
        rows = self.rows()
        w = max(len(k) for k, _, _ in rows)
        v = max(len(val) for _, val, _ in rows)
        lines = [f"caliban settings ({self.settings.mode} jobs):"]
        lines += [f"  {k:<{w}}  {val or '-':<{v}}  ({src})" for k, val, src in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        e = html.escape
        body = "".join(f"<tr><td>{e(k)}</td><td><code>{e(val or '-')}</code></td>"
                       f"<td>{e(src)}</td></tr>" for k, val, src in self.rows())
        return (f"<table class='caliban-config'><thead><tr><th>setting</th><th>value</th>"
                f"<th>from</th></tr></thead><tbody>{body}</tbody></table>")


def config(*, nogpu: bool = False, cwd: str | None = None, **flags: Any) -> ConfigView:
    """The effective settings for a submission from ``cwd`` (default: here), with sources.

    ``flags`` are setting flags as for :func:`cloud` (``backend="local"``...), applied on
    top of the session (``%config Caliban``), environment and ``.calibanconfig.json``.
    """
    from ..flags import WHERE
    from ..settings import resolve_settings

    known = {*WHERE, "base_image", "registry", "output_dir"}
    unknown = sorted(set(flags) - known)
    if unknown:
        raise UsageError(f"caliban_jupyter.config(): unknown option {unknown[0]!r}. Valid "
                         f"options: cwd, nogpu, {', '.join(sorted(known))}")
    return ConfigView(resolve_settings(flags, gpu=not nogpu, cwd=cwd or os.getcwd(),
                                       session=get_config().session()))


# ---------------------------------------------------------------------------- tracking

def _where(flags: Mapping[str, Any], what: str, extra: Sequence[str]):
    """Settings from where-flags (``backend="local"``...) over session, env and config."""
    from ..flags import where_settings

    return where_settings(flags, what=what, extra=extra, cwd=os.getcwd(),
                          session=get_config().session())


class Sweeps(list):
    """Several sweeps (``status()`` with no group): displays each one's table."""

    def __repr__(self) -> str:
        return "\n\n".join(map(repr, self)) or "no experiment groups recorded yet"

    def _repr_html_(self) -> str:
        return "".join(s._repr_html_() for s in self) or "<p>no experiment groups recorded " \
                                                          "yet</p>"


def _group_sweep(xgroup: str, records: Sequence[Any], settings: Any) -> Sweep:
    """A Sweep over the group ``xgroup`` (where it was recorded, unless flagged)."""
    from ..service.groups import JobGroup

    return Sweep(JobGroup(xgroup, settings=settings, records=records))


def status(xgroup: str | None = None, *, max_jobs: int | None = None, max_groups: int = 5,
           all_attempts: bool = False, **where: Any) -> Sweep | Sweeps:
    """The jobs of ``xgroup`` refreshed from the backend (a :class:`Sweep`), or with no
    group, of the latest experiment groups recorded on this machine (a list of them).
    Each sweep shows each job once; with ``all_attempts`` its ``attempts`` also hold the
    earlier attempts of resubmitted jobs.

    ``where`` takes ``backend``, ``project_id``, ``region``, ``cloud_key``, ``endpoint``.
    """
    from ..service.track import status as _status

    settings = _where(where, "caliban_jupyter.status()",
                      ("xgroup", "max_jobs", "max_groups", "all_attempts"))
    records = _status(xgroup, settings=settings, max_jobs=max_jobs, max_groups=max_groups,
                      all_attempts=all_attempts)
    groups: dict[str, list[Any]] = {}
    for r in records:
        groups.setdefault(r.xgroup, []).append(r)
    if xgroup:
        return _group_sweep(xgroup, groups.get(xgroup, []), settings)
    return Sweeps(_group_sweep(x, rs, settings) for x, rs in groups.items())


def stop(xgroup: str | None = None, job: str | None = None, *, dry_run: bool = False,
         yes: bool = False, **where: Any) -> Sweep:
    """Cancel the running jobs of ``xgroup``, or the one job ``job`` names; returns the
    group's :class:`Sweep` (with ``dry_run``, stops nothing and lists what would stop).

    With neither, the newest group this kernel session submitted jobs to. When it submitted
    none, the newest group recorded on this machine may be another kernel's or shell's:
    its jobs are listed and ``input()`` asks first (unless ``yes``); where nobody can
    answer, a :class:`UsageError` says to name the group or pass ``yes``.
    """
    from ..history import History
    from ..service.groups import JobGroup

    settings = _where(where, "caliban_jupyter.stop()", ("xgroup", "job", "dry_run", "yes"))
    if job is not None:
        group, record, name = JobGroup.of_job(job, xgroup=xgroup, settings=settings,
                                              progress=_print_progress)
        with group:
            stopped = group.stop_job(record, name, dry_run=dry_run)
            shown = stopped if dry_run or record is None else group.recorded()
        return _group_sweep(record.xgroup if record else "", shown, settings)
    confirm = None
    if not xgroup:
        from .session import default_stop_group

        with History() as history:
            xgroup, confirm = default_stop_group(history, yes=yes, say=_print_progress)
    with JobGroup.open(xgroup, settings=settings, progress=_print_progress) as group:
        stopped = group.stop(dry_run=dry_run, confirm=confirm)
        shown = stopped if dry_run else group.attempts
    return _group_sweep(group.xgroup, shown, settings)


def resubmit(xgroup: str, *, all_jobs: bool = False, dry_run: bool = False,
             rate_per_minute: float | None = None, **where: Any) -> Sweep:
    """Submit again the FAILED, CANCELLED and NOT_SUBMITTED jobs of ``xgroup`` (every job
    with ``all_jobs``) with the image they ran; returns the group's :class:`Sweep`."""
    from ..service.groups import JobGroup

    settings = _where(where, "caliban_jupyter.resubmit()",
                      ("xgroup", "all_jobs", "dry_run", "rate_per_minute"))
    if not xgroup:
        raise UsageError("pass --xgroup: the experiment group whose jobs to resubmit")
    with JobGroup.open(xgroup, settings=settings, progress=_print_progress) as group:
        if dry_run:
            shown = group.resubmit(all_jobs=all_jobs, dry_run=True,
                                   rate_per_minute=rate_per_minute)
        else:
            with submitting(xgroup):
                group.resubmit(all_jobs=all_jobs, rate_per_minute=rate_per_minute)
            shown = group.attempts
    return _group_sweep(xgroup, shown, settings)


def logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
         **where: Any) -> str:
    """The output of ``job`` (display name, resource name or id) so far."""
    from ..service.track import logs as _logs

    settings = _where(where, "caliban_jupyter.logs()", ("job", "xgroup", "tail"))
    return _logs(job, xgroup=xgroup, tail=tail, settings=settings)


def follow_logs(job: str, *, xgroup: str | None = None, tail: int | None = None,
                **where: Any) -> Generator[str, None, None]:
    """The output of ``job`` as it grows, until the job ends (no deadline; interrupting
    stops following, the job keeps running)."""
    from ..service.track import follow_logs as _follow

    settings = _where(where, "caliban_jupyter.follow_logs()", ("job", "xgroup", "tail"))
    return _follow(job, xgroup=xgroup, tail=tail, settings=settings,
                   progress=_print_progress)


def outputs(job: str | None = None, *, xgroup: str | None = None, dest: str | None = None,
            **where: Any) -> Any:
    """Download what the jobs of ``xgroup`` (default: the latest group), or one ``job``,
    wrote: ``{dest}/{job}/...`` and executed notebooks as ``{dest}/{job}.ipynb`` (default
    dest ``caliban_outputs/XGROUP``). Files already there with the same hash are skipped.
    Prints a summary; returns the :class:`~caliban_jupyter.storage.DownloadReport`."""
    from ..service.outputs import download_summary
    from ..service.track import group_download

    settings = _where(where, "caliban_jupyter.outputs()", ("job", "xgroup", "dest"))
    report, target, records = group_download(job, xgroup=xgroup, dest=dest,
                                             settings=settings)
    print(download_summary(report, target, [r.display_name for r in records]))
    return report


def _print_progress(event: Any) -> None:
    from .. import events as ev

    if isinstance(event, (ev.Info, ev.Warning_, ev.JobSubmitted, ev.JobFailedToSubmit)):
        print(event.message)

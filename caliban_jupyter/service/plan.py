"""The pipeline every front end calls: plan (pure, validates everything) then execute.

``plan_from_request`` decides everything ``caliban cloud`` decides before a byte is built:
settings, target, machine, experiments, labels, job specs. Any user mistake raises a
:class:`~caliban_jupyter.errors.CalibanError` here, before anything is built or submitted.
``execute`` builds (or reuses) the image and submits the jobs, reporting progress events.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import UsageError
from ..records import INDEX_LABEL, SID_LABEL
from ..settings import FLAG_SETTINGS, Settings, resolve_settings
from ..spec import flag_schema
from ..spec.jobs import JobSpec, MachineSpec
from ..spec.outputs import job_output_uri
from ..spec.runtime import JobRuntime, RuntimeFlags
from ..spec.target import Target, classify_target
from .backends import backend_type
from .preflight import Preflight, Probe, preflight

if TYPE_CHECKING:
    from ..backends.base import BackendType
    from ..packaging.modes import BuildChoice
    from ..spec.search_space import SearchSpace

_XGROUP_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class CloudRequest:
    """Everything a user asked of ``caliban cloud``, whichever front end they used."""

    module: str | None = None
    script_args: tuple[str, ...] = ()
    nogpu: bool = False
    gpu_spec: str | None = None
    tpu_spec: str | None = None
    machine_type: str | None = None
    force: bool = False
    experiment_config: Any = None  # path, "stdin", or an already-parsed dict / list
    tune: Any = None  # --tune: a search space's path or dict (service/tuning.py)
    name: str | None = None
    xgroup: str | None = None
    labels: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    base_image: str | None = None
    image_tag: str | None = None
    registry: str | None = None
    build: str | None = None
    staging_bucket: str | None = None
    executor_image: str | None = None
    backend: str | None = None
    project_id: str | None = None
    region: str | None = None
    cloud_key: str | None = None
    endpoint: str | None = None
    output_dir: str | None = None
    max_cost: str | None = None  # USD; validated with the settings (spec/cost.py)
    # -o NAME: variables saved from the program after it ends (see spec/outputs.py).
    outputs: tuple[str, ...] = ()
    dry_run: bool = False
    format: str = "text"
    show_program: bool = False
    # Notebook front end: a generated program replaces MODULE.
    program: str | None = None
    program_parameters: tuple[str, ...] = ()
    program_notes: tuple[str, ...] = ()  # what the job will not run, one line each
    program_modules: tuple[str, ...] = ()  # local modules shipped beside the program
    requirements: tuple[str, ...] = ()
    cwd: str = "."
    session: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = None
    # Scheduling, worker pools, env vars... (spec/runtime.py); `env` above is the process
    # environment settings are read from, not the jobs' variables.
    runtime: RuntimeFlags = field(default_factory=RuntimeFlags)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace, **overrides: Any) -> CloudRequest:
        extra = tuple(getattr(args, "_extra", ()) or ())
        if extra:
            module = getattr(args, "module", None) or "MODULE"
            raise UsageError(
                f"unexpected argument(s) after {module}: {shlex.join(extra)}. Arguments for "
                "your program go after `--`, like this:\n  "
                + _corrected_command(getattr(args, "_argv", None), module, extra,
                                     tuple(getattr(args, "script_args", ()) or ()))
            )
        values = {f: getattr(args, f) for f in cls.__dataclass_fields__ if hasattr(args, f)}
        for key in ("labels", "dirs", "extras", "script_args", "outputs"):
            values.pop(key, None)
        values.update(
            outputs=tuple(getattr(args, "output", ()) or ()),
            labels=tuple(getattr(args, "label", ()) or ()),
            dirs=tuple(getattr(args, "dir", ()) or ()),
            extras=tuple(getattr(args, "extras", ()) or ()),
            script_args=tuple(getattr(args, "script_args", ()) or ()),
        )
        values["runtime"] = RuntimeFlags.from_namespace(args)
        values.update(overrides)
        return cls(**values)


def _corrected_command(argv: Sequence[str] | None, module: str, extra: tuple[str, ...],
                       script_args: tuple[str, ...]) -> str:
    if argv:
        head = [a for a in argv if a not in extra]
    else:
        head = ["cloud", "[flags]", module]
    return shlex.join(["caliban", *head, "--", *extra, *script_args])


@dataclass(frozen=True)
class Plan:
    """A fully validated submission: what will be built and which jobs will be created."""

    request: CloudRequest
    settings: Settings
    target: Target | None
    machine: MachineSpec
    xgroup: str
    name: str
    experiments: tuple[Mapping[str, Any], ...]
    specs: tuple[JobSpec, ...]
    image: str | None  # the image to run when known without building (--image_tag)
    program: str | None = None  # generated program source (a captured cell)
    runtime: JobRuntime = field(default_factory=JobRuntime)
    build: BuildChoice | None = None  # how the jobs become runnable (--build)
    #: One line per label that sanitizing changed or dropped (shown, never silent).
    notes: tuple[str, ...] = ()
    #: True once ``xgroup`` is claimed for this submission (group_names.reserve_group).
    claimed: bool = False
    output_dir: str | None = None  # the output root, normalized; None: outputs off
    outputs: tuple[str, ...] = ()  # -o names
    warnings: tuple[str, ...] = ()  # shown by the dry run and at submission
    preflight: Preflight = field(default_factory=Preflight)  # what was probed
    #: ``--tune``: the search; the one spec is then its trials' job (service/tuning.py).
    tuning: SearchSpace | None = None

    @property
    def backend(self) -> str:
        return self.settings.backend

    @property
    def readable_program(self) -> str | None:
        """The generated program as people read it (shipped values' bytes abbreviated), or
        None when the jobs run the user's code as it is."""
        if self.program is None:
            return None
        from ..capture.render import readable_program

        return readable_program(self.program)

    @property
    def service(self) -> BackendType:
        """The job service's backend class (what it can run, where its outputs go)."""
        return backend_type(self.settings.backend)


def default_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    user = re.sub(r"[^a-z0-9_-]", "", user.lower()) or "user"
    return user


def _now() -> _dt.datetime:
    return _dt.datetime.now()


def plan_from_request(request: CloudRequest, *, stdin: TextIO | None = None,
                      now: _dt.datetime | None = None,
                      experiments: Sequence[Mapping[str, Any]] | None = None,
                      probe: Probe | None = None) -> Plan:
    """Validate the request and decide every job.

    What it reads: the settings (environment, ``.calibanconfig.json``), the experiment
    config, and the one :func:`~caliban_jupyter.service.preflight.preflight` (the files
    the request names, whether a Docker engine answers: ``probe`` replaces that question);
    the rest is decided from these alone.

    ``experiments`` are the ones ``request.experiment_config`` expands to, when the caller
    has loaded and expanded it already (a notebook does, for the captured program's
    parameters): they are used as given, and the config is not loaded again.
    """
    from ..spec.accelerators import resolve_machine
    from ..spec.experiments import (
        expand_experiment_config,
        experiment_to_args,
        load_experiment_config,
    )
    from ..spec.jobs import check_display_names
    from ..spec.labels import build_labels_and_notes, parse_label_flags, summarize_notes
    from ..spec.runtime import resolve_runtime

    request = with_config_flags(request)
    cwd = request.cwd
    env = os.environ if request.env is None else request.env
    now = now or _now()
    if request.nogpu and request.gpu_spec:
        raise UsageError("--nogpu and --gpu_spec contradict each other: drop --gpu_spec for a "
                         "CPU-only job, or drop --nogpu to use the GPU")
    if request.format not in ("text", "json"):
        raise UsageError(f"--format must be 'text' or 'json', not {request.format!r}")
    if request.show_program and (not request.dry_run or request.format == "json"):
        raise UsageError("--show_program prints the job's program in a dry run's text: use it "
                         "with --dry_run (and without --format json)")

    target: Target | None = None
    if request.program is None:
        if not request.module:
            raise UsageError("no MODULE given. Usage: caliban cloud [flags] MODULE [-- ARGS]")
        target = classify_target(request.module, cwd)

    flags = {name: getattr(request, name) for name in FLAG_SETTINGS}
    flags.update(request.runtime.setting_flags())
    gpu_mode = not request.nogpu
    settings = resolve_settings(flags, gpu=gpu_mode, cwd=cwd, env=env,
                                session=request.session)
    service = backend_type(settings.backend, source=settings.sources.get("backend"))
    checked = preflight(settings, service, target, cwd=cwd, dirs=request.dirs,
                        image_tag=request.image_tag, probe=probe)
    settings = service.prepare(settings)

    output_dir, outputs = _plan_outputs(request, settings, service, target)

    machine = resolve_machine(
        gpu_spec=request.gpu_spec, tpu_spec=request.tpu_spec,
        machine_type=request.machine_type, region=settings.region,
        gpu_mode=gpu_mode, force=request.force,
    )
    runtime = resolve_runtime(request.runtime, chief=machine, region=settings.region,
                              settings=settings.runtime, sources=settings.sources,
                              force=request.force)

    from ..packaging.modes import choose_build

    build = choose_build(settings, service, image_tag=request.image_tag,
                         accelerator_type=machine.accelerator_type, today=now.date(),
                         engine=checked.engine)

    tuning = None
    if request.tune is not None:
        from .tuning import check_tuning, load_tune

        tuning = load_tune(request.tune, cwd)
        check_tuning(tuning, experiment_config=request.experiment_config,
                     program=request.program, target=target,
                     parameters=request.program_parameters, service=service)
        experiments = [{}]  # one job spec: the trials' (Vertex adds --name=value)
    if experiments is not None:
        expanded: list[dict[str, Any]] = [dict(e) for e in experiments]
    elif request.experiment_config is None:
        expanded = [{}]
    else:
        config = load_experiment_config(request.experiment_config, stdin=stdin)
        expanded = expand_experiment_config(config)

    user = default_user()
    name = request.name or f"caliban_{user}"
    # Cut so a suffix (group_names: the name was taken) still fits a label value.
    xgroup = request.xgroup or f"{user[:30]}-xgroup-{now:%Y-%m-%d-%H-%M-%S}"
    if not _XGROUP_RE.match(xgroup):
        raise UsageError(f"--xgroup {xgroup!r}: use 1-63 lowercase letters, digits, '_' or '-', "
                         "starting with a letter or digit (it becomes a Vertex label value)")
    stamp = f"{now:%Y%m%d_%H%M%S}"
    check_display_names(name, stamp, len(expanded))
    user_labels = parse_label_flags(list(request.labels))
    image = request.image_tag
    specs = []
    notes: dict[str, None] = {}
    # A notebook job's experiment keys are its parameters (injected papermill-style).
    parameters = set(request.program_parameters) | (
        {k for e in expanded for k in e if k.isidentifier()}
        if target is not None and target.kind == "notebook" else set())
    for i, experiment in enumerate(expanded, start=1):
        # `false` omits a flag (caliban's rule), which would leave a captured program its
        # notebook value: a parameter of the program gets an explicit False instead.
        args = experiment_to_args({k: "False" if v is False and k in parameters
                                   else v for k, v in experiment.items()}, request.script_args)
        labels, label_notes = build_labels_and_notes(
            job_name=name, gpu_enabled=machine.accelerator_type is not None
            and not machine.accelerator_type.startswith("TPU"),
            tpu_enabled=bool(machine.accelerator_type
                             and machine.accelerator_type.startswith("TPU")),
            xgroup=xgroup, args=args, user_labels=user_labels,
            # The submission id is drawn at submit time; reserve its slot now so a job
            # with too many labels fails here, before anything is built.
            extra={INDEX_LABEL: str(i), SID_LABEL: "reserved"},
        )
        labels.pop(SID_LABEL)
        notes.update(dict.fromkeys(label_notes))
        spec_name = f"{name}_{stamp}_{i}"
        specs.append(JobSpec(
            display_name=spec_name, index=i, region=settings.region,
            image_uri=image or "", args=tuple(args), labels=labels, machine=machine,
            experiment=experiment, runtime=None if runtime == JobRuntime() else runtime,
            output_uri=job_output_uri(output_dir, xgroup, spec_name) if output_dir else None,
            notebook=target.path if target is not None and target.kind == "notebook" else None,
        ))
    warnings = undefined_output_warnings(request.program, outputs)
    return Plan(request=request, settings=settings, target=target, machine=machine,
                xgroup=xgroup, name=name, experiments=tuple(expanded), specs=tuple(specs),
                image=image, program=request.program, runtime=runtime, build=build,
                notes=summarize_notes(list(notes)), output_dir=output_dir, outputs=outputs,
                warnings=warnings, preflight=checked, tuning=tuning)


_MACHINE_FLAGS = ("nogpu", "gpu_spec", "tpu_spec", "machine_type")
_SCHEDULING_FLAGS = ("spot", "flex_start", "max_wait")
# The runtime flags .calibanconfig.json holds as flags of every job (the flag schema's
# "job" layer; the "setting" ones resolve with the settings).
_RUNTIME_FLAGS = tuple(f.argdest for f in flag_schema.flags("config_file")
                       if f.runtime and f.layer == "job")


def with_config_flags(request: CloudRequest) -> CloudRequest:
    """``request`` with the flags kept in ``.calibanconfig.json`` (``settings.JOB_KEYS``)
    where the command line left them out.

    A flag given wins. The machine flags (``nogpu``, ``gpu_spec``, ``tpu_spec``,
    ``machine_type``) go together: any of them given replaces all four of the file, so a
    ``--gpu_spec`` never meets the file's ``nogpu``; so do ``spot``, ``flex_start`` and
    ``max_wait``. Lists add up: the file's labels, dirs, extras and args come first, then
    the command line's (a label given again wins). Applying it twice changes nothing.
    """
    from ..settings import job_flags

    config = job_flags(request.cwd)
    if not config:
        return request
    changes: dict[str, Any] = {}
    if not any(getattr(request, key) for key in _MACHINE_FLAGS):
        changes.update({key: config[key] for key in _MACHINE_FLAGS if key in config})
    if config.get("force"):
        changes["force"] = True
    if "experiment_config" in config and request.experiment_config is None:
        changes["experiment_config"] = str(Path(request.cwd, config["experiment_config"]))
    if "name" in config and not request.name:
        changes["name"] = config["name"]
    if config.get("labels"):
        changes["labels"] = tuple(dict.fromkeys(
            (*(f"{k}={v}" for k, v in config["labels"].items()), *request.labels)))
    for key in ("dirs", "extras"):
        if config.get(key):
            changes[key] = tuple(dict.fromkeys((*config[key], *getattr(request, key))))
    args = tuple(config.get("args", ()))
    if args and request.script_args[:len(args)] != args:
        changes["script_args"] = (*args, *request.script_args)
    given = request.runtime
    scheduling = any(getattr(given, key) for key in _SCHEDULING_FLAGS)
    runtime: dict[str, Any] = {
        key: config[key] if isinstance(config[key], bool) else str(config[key])
        for key in _RUNTIME_FLAGS if key in config and not getattr(given, key)
        and not (scheduling and key in _SCHEDULING_FLAGS)}
    if runtime:
        changes["runtime"] = replace(given, **runtime)
    return replace(request, **changes)


def _plan_outputs(request: CloudRequest, settings: Settings, service: BackendType,
                  target: Target | None) -> tuple[str | None, tuple[str, ...]]:
    """The output root (None: off) and the ``-o`` names, checked against what runs."""
    from ..spec.outputs import HOW_TO_SET, check_output_names, resolve_output_dir

    output_dir = resolve_output_dir(settings.output_dir, default=service.default_output_dir,
                                    local_dirs=service.local_output_dirs,
                                    service=service.title, cwd=request.cwd)
    outputs = check_output_names(request.outputs)
    if outputs and output_dir is None:
        raise UsageError(f"-o {outputs[0]}: values are saved to the job's output location, "
                         f"and the {service.title} backend has none: {HOW_TO_SET}")
    if outputs and request.image_tag:
        raise UsageError(f"-o {outputs[0]} needs the program that saves it in the image; "
                         "--image_tag runs an image as it is: drop one of them")
    if outputs and target is not None and target.kind not in ("script", "notebook"):
        raise UsageError(f"-o {outputs[0]}: values can be saved from a notebook cell, a "
                         f"script or a notebook, not a {target.kind} ({target.name}); write "
                         "files to $AIP_MODEL_DIR instead, or run it as a script")
    return output_dir, outputs


def undefined_output_warnings(program: str | None, outputs: Sequence[str]) -> tuple[str, ...]:
    """One warning per ``-o`` name the captured program plainly never assigns."""
    if not program or not outputs:
        return ()
    from ..packaging.outputs_check import assigned_names

    defined = assigned_names(program)
    if defined is None:
        return ()
    return tuple(f"-o {name}: the program never assigns {name!r} (the job will fail "
                 "naming it); define it in the cell, or drop -o " + name
                 for name in outputs if name not in defined)

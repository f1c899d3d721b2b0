"""The one definition of the flags every front end parses.

- ``caliban cloud``'s flags (:func:`add_cloud_arguments`, with the runtime flags of
  :func:`add_runtime_arguments`), which ``%%caliban_cloud``, ``caliban_jupyter.cloud()``,
  the form and the server parse too;
- the "where" settings that say which job service to ask (:data:`WHERE`,
  :func:`add_where_arguments`, :func:`where_of`, :func:`where_settings`), which every
  command, magic and API function that follows jobs up takes;
- the flags of ``caliban status/stop/resubmit/logs/outputs`` and of their magics
  (:data:`COMMAND_FLAGS`), and the export's (:func:`add_export_arguments`).

Every flag of ``caliban cloud`` is an entry of :mod:`caliban_jupyter.spec.flag_schema`;
the parsers are built from it when asked. Only argparse and that schema are imported here,
so ``caliban --help`` and ``%load_ext`` stay cheap. Values
stay text: :func:`caliban_jupyter.spec.runtime.resolve_runtime` and the plan validate them
for every front end alike (the API passes numbers as text too).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .spec import flag_schema
from .spec.flag_schema import Flag

if TYPE_CHECKING:
    from .settings import Settings

# ----------------------------------------------------------------------------- schema

def choices_of(flag: Flag) -> tuple[str, ...] | None:
    """A flag's choices; for a backend's name (``flag_schema.BACKENDS``), the backends
    registered now."""
    if flag.choices == flag_schema.BACKENDS:
        from .service.backends import backend_names

        return tuple(backend_names())
    if flag.choices == flag_schema.BOOT_DISK_TYPES:
        from .spec.pools import BOOT_DISK_TYPES

        return BOOT_DISK_TYPES
    return None if flag.choices is None else tuple(flag.choices)


def schema_json() -> dict[str, Any]:
    """The flag schema as ``GET /caliban/api/flags`` serves it (its shape:
    caliban_jupyter/server/flags.schema.json)."""
    return {"flags": [
        {"name": f.name, "type": f.type, "help": f.help,
         "default": list(f.default) if isinstance(f.default, (list, tuple)) else f.default,
         "choices": list(c) if (c := choices_of(f)) is not None else None,
         "metavar": f.metavar, "group": f.group, "surfaces": list(f.surfaces)}
        for f in flag_schema.FLAGS]}


# ------------------------------------------------------------------------------ where

def _where_flags() -> tuple[Flag, ...]:
    return flag_schema.flags("cli", group="where")


#: The settings that say which job service to ask: the flags (and API keywords) of every
#: command that follows jobs up. ``caliban cloud`` also takes ``--output_dir`` among them.
WHERE = tuple(f.name for f in _where_flags() if f.name != "output_dir")
#: The title of the where flags of the commands that follow jobs up.
FOLLOW_UP_TITLE = "job service (default: where the group was submitted)"


def add_where_arguments(parser: argparse.ArgumentParser, *, title: str = FOLLOW_UP_TITLE,
                        outputs: bool = False) -> None:
    """Add the :data:`WHERE` flags (and ``--output_dir`` with ``outputs``) as one group."""
    group = parser.add_argument_group(title)
    for flag in _where_flags():
        if flag.name != "output_dir" or outputs:
            add_flag(group, flag)


def where_of(args: argparse.Namespace) -> dict[str, Any]:
    """The where flags given in ``args`` (unset ones left out), as keywords."""
    return {k: getattr(args, k) for k in WHERE if getattr(args, k, None) is not None}


def where_settings(where: Mapping[str, Any], *, what: str = "options",
                   extra: Sequence[str] = (), cwd: str = ".",
                   session: Mapping[str, Any] | None = None) -> Settings:
    """The settings of the job service to ask: ``where`` (:data:`WHERE` keys, ``None``
    meaning unset) over ``session``, the environment, ``.calibanconfig.json`` and defaults.

    Raises
    ------
    UsageError
        For a key that is not a where setting, naming ``what`` and listing the valid
        options (``extra`` are the caller's own).
    """
    from .errors import UsageError
    from .settings import resolve_settings

    unknown = sorted(k for k in where if k not in WHERE)
    if unknown:
        valid = ", ".join(sorted([*extra, *WHERE]))
        raise UsageError(f"{what}: unknown option {unknown[0]!r}. Valid options: {valid}")
    given = {k: v for k, v in where.items() if v is not None}
    return resolve_settings(given, gpu=False, cwd=cwd, session=session)


# -------------------------------------------------------------------------- caliban cloud

USAGE = "caliban cloud [flags] MODULE [-- SCRIPT_ARGS...]"

EPILOG = """\
MODULE is a module (trainer.train, run as `python -m trainer.train`), a Python script
(trainer/train.py), any other file (run with bash), or a notebook (.ipynb). Arguments after
`--` go to every job, before the experiment's own `--key value` flags.

Settings resolve: flag > environment > .calibanconfig.json > default:
  project   --project_id, PROJECT_ID, "project_id"
  region    --region, REGION, "region" (default us-central1)
  key       --cloud_key, GOOGLE_APPLICATION_CREDENTIALS, "cloud_key"
  backend   --backend, CALIBAN_BACKEND, "backend" (default vertex; `local` needs no Google account)
  image     --base_image, CALIBAN_BASE_IMAGE, "base_image"
  registry  --registry, CALIBAN_REGISTRY, "registry"
            (Vertex default: REGION-docker.pkg.dev/PROJECT/caliban)
  build     --build, CALIBAN_BUILD, "build" (default auto: docker when an engine answers,
            else package); --staging_bucket, CALIBAN_STAGING_BUCKET, "staging_bucket";
            --executor_image, CALIBAN_EXECUTOR_IMAGE, "executor_image"
  outputs   --output_dir, CALIBAN_OUTPUT_DIR, "output_dir" (gs://BUCKET/PREFIX; each job
            writes to {output_dir}/{xgroup}/{job}/; the local backend defaults to its own)
  max cost  --max_cost, CALIBAN_MAX_COST, "max_cost" (USD; a sweep estimated above it, at
            most with --timeout or per hour without, asks first; the dry run shows the cost)

Examples:
  caliban cloud --backend local --nogpu trainer.train --experiment_config exp.json
  caliban cloud --gpu_spec 4xA100 --project_id my-proj trainer/train.py -- --epochs 3
  caliban cloud --dry_run --format json trainer.train | jq .
"""

HELPFULL_EXTRA = """\
More:
  .calibanconfig.json keys: project_id, region, cloud_key, backend, base_image (string or
  {"cpu": ..., "gpu": ...}), apt_packages (list or {"cpu": [...], "gpu": [...]}), registry,
  endpoint, build, staging_bucket, executor_image, and the runtime settings
  service_account, network, tensorboard, reservation, boot_disk_size, boot_disk_type,
  timeout, env ({"NAME": "value"}; --env adds to it); and the other flags of every job (a
  flag given wins): nogpu, gpu_spec, tpu_spec, machine_type (these four go together),
  force, experiment_config (path), name, labels ({"k": "v"}), dirs, extras, args (lists;
  the command line's are added after them), spot, flex_start, max_wait (these three go
  together), restart_on_worker_restart, disable_retries, enable_web_access, workers,
  worker_machine_type, worker_gpu_spec. Unknown keys are rejected; `caliban export`
  writes one.
  Executor images (--executor_image): caliban_jupyter/spec/executor_images.json, dated.
  Defaults: machine type n1-standard-8 with a GPU, n1-highcpu-32 with --nogpu; GPU 1xP100.
  GPU types: K80 P4 P100 T4 V100 A100 A100_80GB L4 H100 H100_MEGA H200 B200 GB200 RTX_PRO_6000.
  TPU types: V2 V3 V4 V5E. Fixed-GPU machine types (a2, a3, a4, g2) are picked for you.
  Labels: job_name, gpu_enabled, tpu_enabled, xgroup, one per `--key value` arg, then --label;
  later sources win.
  Environment: CALIBAN_HOME (history and emulator state, default ~/.caliban),
  CALIBAN_ENDPOINT (job service endpoint), DOCKER_HOST (Docker engine).
"""


class _HelpFull(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show help for every flag and setting, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        print()
        print(HELPFULL_EXTRA)
        parser.exit()


def add_cloud_arguments(p: argparse.ArgumentParser, *, module: bool = True) -> None:
    """The flags shared by `caliban cloud`, `%%caliban_cloud` and the form."""
    p.usage = USAGE if module else None
    p.epilog = EPILOG
    p.add_argument("--helpfull", action=_HelpFull)
    for title, members in flag_schema.iter_groups("cli"):
        if title == "where":
            add_where_arguments(p, title="where", outputs=True)
        else:
            group = p.add_argument_group(title)
            for flag in members:
                add_flag(group, flag)


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """Add the runtime flags to ``p`` as their own groups."""
    for title, members in flag_schema.iter_groups("cli"):
        if title in flag_schema.RUNTIME_GROUPS:
            group = p.add_argument_group(title)
            for flag in members:
                add_flag(group, flag)


def add_flag(group: Any, flag: Flag, **overrides: Any) -> argparse.Action:
    """Add one flag of the schema to an argparse parser or group."""
    names = [*([flag.short] if flag.short else []), f"--{flag.option or flag.name}"]
    kwargs: dict[str, Any] = {"help": flag.help}
    if flag.dest:
        kwargs["dest"] = flag.dest
    if flag.type == "bool":
        kwargs["action"] = "store_true"
    else:
        if flag.type == "list":
            kwargs.update(action="append", default=[])
        elif flag.default is not None:
            kwargs["default"] = flag.default
        if flag.metavar:
            kwargs["metavar"] = flag.metavar
        if flag.strict_choices and flag.choices is not None:
            kwargs["choices"] = list(choices_of(flag) or ())
    kwargs.update(overrides)
    return group.add_argument(*names, **kwargs)


# ----------------------------------------------------- the commands that follow jobs up

def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """``caliban status`` and ``%caliban_status``."""
    parser.add_argument("--xgroup", help="the experiment group (default: the latest groups "
                        "in the local history)")
    parser.add_argument("--max_jobs", type=int, metavar="N",
                        help="show at most N jobs per group")
    parser.add_argument("--max_groups", type=int, default=5, metavar="N",
                        help="without --xgroup, how many recent groups (default 5)")
    parser.add_argument("--all_attempts", action="store_true",
                        help="list every attempt of resubmitted jobs (default: each job "
                        "once, by its latest attempt)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text table (default) or JSON records")
    add_where_arguments(parser)


def add_stop_arguments(parser: argparse.ArgumentParser) -> None:
    """``caliban stop`` and ``%caliban_stop``."""
    parser.add_argument("job", metavar="JOB", nargs="?",
                        help="stop only this job: display name, resource name or job id "
                        "(see `caliban status`)")
    parser.add_argument("--xgroup", help="the experiment group (default: the latest one); "
                        "with JOB, the group to look the job up in")
    parser.add_argument("--dry_run", action="store_true",
                        help="show the jobs that would be stopped; stop nothing")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before stopping more than one job")
    add_where_arguments(parser)


def add_resubmit_arguments(parser: argparse.ArgumentParser) -> None:
    """``caliban resubmit`` and ``%caliban_resubmit``."""
    parser.add_argument("--xgroup", required=True, help="the experiment group")
    parser.add_argument("--all_jobs", action="store_true",
                        help="resubmit every job of the group, whatever its state")
    parser.add_argument("--dry_run", action="store_true",
                        help="show the jobs that would be submitted; submit nothing")
    parser.add_argument("--rate_per_minute", type=float, default=None, metavar="N",
                        help="at most N job creations a minute per region")
    add_where_arguments(parser)


def add_logs_arguments(parser: argparse.ArgumentParser) -> None:
    """``caliban logs`` and ``%caliban_logs``."""
    parser.add_argument("job", metavar="JOB",
                        help="display name, resource name or job id (see `caliban status`)")
    parser.add_argument("--xgroup", help="the job's experiment group (needed for jobs "
                        "submitted from another machine, or names used in several groups)")
    parser.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    parser.add_argument("--follow", "-f", action="store_true",
                        help="keep printing the log as it grows until the job ends "
                        "(Ctrl-C stops following; the job keeps running)")
    add_where_arguments(parser)


def add_outputs_arguments(parser: argparse.ArgumentParser) -> None:
    """``caliban outputs`` and ``%caliban_outputs``."""
    parser.add_argument("job", metavar="JOB", nargs="?",
                        help="one job (display name, resource name or id); default: every "
                             "job of the group")
    parser.add_argument("--xgroup", help="the experiment group (default: the latest)")
    parser.add_argument("--dest", metavar="DIR",
                        help="where to put them (default caliban_outputs/XGROUP): "
                             "DIR/JOB/... and executed notebooks as DIR/JOB.ipynb")
    add_where_arguments(parser)


#: Command name -> the function adding its flags (the CLI's and its magic's parser).
COMMAND_FLAGS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "status": add_status_arguments,
    "stop": add_stop_arguments,
    "resubmit": add_resubmit_arguments,
    "logs": add_logs_arguments,
    "outputs": add_outputs_arguments,
}


# -------------------------------------------------------------------------------- export

def _per_submission() -> dict[str, str]:
    """Flags of `caliban cloud` that belong to one submission, not to the job written
    down: dest -> why an export refuses it."""
    return {f.argdest: f.not_exported for f in flag_schema.flags("cli") if f.not_exported}


class _NotForExport(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        kwargs.update(nargs="?", help=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, f"not part of an export: "
                                           f"{_per_submission()[self.dest]}")


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """`caliban cloud`'s flags that define the job, and ``--force`` to write into a
    non-empty directory (shared by `caliban export`, ``%caliban_export`` and nbconvert)."""
    add_cloud_arguments(p, module=False)
    # --force means "write into a non-empty directory" here, as the export's own flag;
    # `caliban cloud --force` (skip combination checks) can go in the config as "force".
    g = p.add_argument_group("export", conflict_handler="resolve")
    g.add_argument("--force", dest="overwrite", action="store_true",
                   help="write into DIR even when it is not empty (without asking): the files "
                        "the export writes are replaced, other files are left as they are")
    for flag in flag_schema.flags("cli"):
        if flag.not_exported:
            g.add_argument(f"--{flag.option or flag.name}", dest=flag.argdest,
                           action=_NotForExport, default=flag.default)

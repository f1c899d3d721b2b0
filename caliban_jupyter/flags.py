"""The one definition of the flags every front end parses.

- ``caliban cloud``'s flags (:func:`add_cloud_arguments`, with the runtime flags of
  :func:`add_runtime_arguments`), which ``%%caliban_cloud``, ``caliban_jupyter.cloud()``,
  the form and the server parse too;
- the "where" settings that say which job service to ask (:data:`WHERE`,
  :func:`add_where_arguments`, :func:`where_of`, :func:`where_settings`), which every
  command, magic and API function that follows jobs up takes;
- the flags of ``caliban status/stop/resubmit/logs/outputs`` and of their magics
  (:data:`COMMAND_FLAGS`), and the export's (:func:`add_export_arguments`).

Only argparse is imported here, so ``caliban --help`` and ``%load_ext`` stay cheap. Values
stay text: :func:`caliban_jupyter.spec.runtime.resolve_runtime` and the plan validate them
for every front end alike (the API passes numbers as text too).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

# ------------------------------------------------------------------------------ where

def _backend_choices() -> Any:
    # The installed job services (service/backends.py), read when a value is checked.
    from .service.backends import BACKEND_CHOICES

    return BACKEND_CHOICES


#: Each "where" flag's argparse keywords, in the order the help lists them.
_WHERE_FLAGS: dict[str, dict[str, Any]] = {
    "backend": dict(choices=_backend_choices(),
                    help="the job service: vertex (Google), local (the Vertex emulator on "
                         "this machine) or another installed one"),
    "project_id": dict(help="Google Cloud project (Vertex backend)"),
    "region": dict(help="Vertex AI region (default us-central1)"),
    "endpoint": dict(metavar="URL",
                     help="job service endpoint (default {region}-aiplatform.googleapis.com; "
                          "with --backend local, an emulator already running there)"),
    "output_dir": dict(metavar="URI",
                       help="where jobs write outputs: gs://BUCKET/PREFIX (with --backend "
                            "local also a local directory; default: the emulator's own)"),
    "cloud_key": dict(metavar="KEY_JSON",
                      help="service-account key for API calls from this machine; never "
                           "enters the image"),
}
#: The settings that say which job service to ask: the flags (and API keywords) of every
#: command that follows jobs up. ``caliban cloud`` also takes ``--output_dir`` among them.
WHERE = tuple(k for k in _WHERE_FLAGS if k != "output_dir")
#: The title of the where flags of the commands that follow jobs up.
FOLLOW_UP_TITLE = "job service (default: where the group was submitted)"


def add_where_arguments(parser: argparse.ArgumentParser, *, title: str = FOLLOW_UP_TITLE,
                        outputs: bool = False) -> None:
    """Add the :data:`WHERE` flags (and ``--output_dir`` with ``outputs``) as one group."""
    group = parser.add_argument_group(title)
    for name, kwargs in _WHERE_FLAGS.items():
        if name != "output_dir" or outputs:
            group.add_argument(f"--{name}", **kwargs)


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
    g = p.add_argument_group("what to run")
    g.add_argument("--nogpu", action="store_true",
                   help="CPU-only job (default machine n1-highcpu-32, no default GPU)")
    g.add_argument("--gpu_spec", metavar="NUMxGPU_TYPE",
                   help="GPUs per job, e.g. 2xV100 (default 1xP100 unless --nogpu/--tpu_spec)")
    g.add_argument("--tpu_spec", metavar="NUMxTPU_TYPE", help="TPU cores per job, e.g. 8xV3")
    g.add_argument("--machine_type", help="Vertex machine type (default: see --helpfull)")
    g.add_argument("--force", action="store_true",
                   help="skip accelerator/machine/region combination checks (never syntax)")
    g.add_argument("--experiment_config", metavar="PATH|stdin",
                   help="JSON experiment config broadcast into one job per combination")
    g.add_argument("--name", help="job name prefix (default caliban_{user})")
    g.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE",
                   help="label for every job (repeatable)")
    g.add_argument("-o", "--output", action="append", default=[], metavar="NAME",
                   help="save this variable of the program (a cell, script or notebook) "
                        "after it ends, for sweep.results() / `caliban outputs` (repeatable)")
    g.add_argument("--xgroup", metavar="NAME",
                   help="experiment group (default {user}-xgroup-{YYYY-mm-dd-HH-MM-SS}, "
                        "with -2, -3... when another submission has it)")
    b = p.add_argument_group("image")
    b.add_argument("-d", "--dir", action="append", default=[], metavar="DIR",
                   help="extra directory to copy into the image (repeatable, order kept)")
    b.add_argument("--extras", action="append", default=[],
                   help="setup.py/pyproject extras to install (repeatable)")
    b.add_argument("--base_image", metavar="IMAGE", help="base image for the job's image")
    b.add_argument("--image_tag", metavar="IMAGE",
                   help="run this existing image; skip build and push")
    b.add_argument("--registry", metavar="REGISTRY",
                   help="where to push, e.g. us-central1-docker.pkg.dev/PROJECT/REPO "
                        "(Vertex default: REGION-docker.pkg.dev/PROJECT/caliban)")
    b.add_argument("--build", choices=["auto", "docker", "package", "cloudbuild"],
                   help="docker: build locally; package: no image, a code package on a "
                        "prebuilt image; cloudbuild: build on Google Cloud Build (default "
                        "auto: docker when an engine answers, else package)")
    b.add_argument("--staging_bucket", metavar="gs://BUCKET[/PREFIX]",
                   help="where packages and build contexts are uploaded (package and "
                        "cloudbuild on Vertex)")
    b.add_argument("--executor_image", metavar="NAME|URI",
                   help="prebuilt image for --build package, e.g. pytorch-2.4-gpu (default: "
                        "scikit-learn CPU / PyTorch GPU; with --backend local, the base image)")
    add_where_arguments(p, title="where", outputs=True)
    add_runtime_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument("--dry_run", action="store_true",
                   help="show the jobs that would be submitted; build and submit nothing")
    o.add_argument("--show_program", action="store_true",
                   help="with --dry_run, also print the program each job runs (for a cell or "
                        "notebook: the generated code)")
    o.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: print the CustomJob request bodies (with --dry_run) or records")


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """Add the runtime flags to ``p`` as their own groups."""
    s = p.add_argument_group("scheduling")
    s.add_argument("--spot", action="store_true",
                   help="run on Spot VMs: far cheaper, but may be preempted")
    s.add_argument("--flex_start", action="store_true",
                   help="queue until L4/A100/H100/H200/B200 capacity is free (Dynamic "
                        "Workload Scheduler), then run uninterrupted")
    s.add_argument("--max_wait", metavar="DURATION",
                   help="with --flex_start: how long to wait for capacity, e.g. 2h "
                        "(0s: forever)")
    s.add_argument("--timeout", metavar="DURATION",
                   help="stop the job after this long, e.g. 90m, 2h, 3600s, 1d")
    s.add_argument("--restart_on_worker_restart", action="store_true",
                   help="restart the whole job when a worker restarts (e.g. preempted)")
    s.add_argument("--disable_retries", action="store_true",
                   help="fail instead of retrying on internal errors")
    r = p.add_argument_group("runtime")
    r.add_argument("--env", dest="job_env", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="environment variable of every replica (repeatable; never a label)")
    r.add_argument("--service_account", metavar="EMAIL",
                   help="service account the job runs as")
    r.add_argument("--network", metavar="projects/N/global/networks/NAME",
                   help="VPC network to peer the job with")
    r.add_argument("--tensorboard", metavar="projects/P/locations/L/tensorboards/ID",
                   help="TensorBoard instance for the job's logs (needs --service_account)")
    r.add_argument("--enable_web_access", action="store_true",
                   help="interactive shell access to the replicas (URIs in caliban status)")
    r.add_argument("--boot_disk_size", metavar="GB", help="boot disk size (100 to 64000)")
    r.add_argument("--boot_disk_type", metavar="TYPE",
                   help="pd-ssd (default), pd-standard or hyperdisk-balanced")
    r.add_argument("--reservation", metavar="NAME",
                   help="consume this Compute Engine reservation")
    d = p.add_argument_group("distributed")
    d.add_argument("--workers", metavar="N",
                   help="N worker replicas besides the chief (workerpool1), same image and "
                        "args; CLUSTER_SPEC and TF_CONFIG tell each its role")
    d.add_argument("--worker_machine_type", metavar="MACHINE",
                   help="machine type of the workers (default: the chief's)")
    d.add_argument("--worker_gpu_spec", metavar="NUMxGPU_TYPE",
                   help="GPUs per worker (default: the chief's; 'none' for CPU workers)")


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

# Flags of `caliban cloud` that belong to one submission, not to the job written down.
_PER_SUBMISSION = {
    "xgroup": "the experiment group is chosen when you submit: bash submit.sh --xgroup NAME",
    "image_tag": "an export is the job's source; to run an existing image, use caliban "
                 "cloud --image_tag",
    "dry_run": "to see the jobs an export submits: bash submit.sh --dry_run",
    "show_program": "the program is main.py in the directory",
    "format": "the export prints what it wrote; caliban cloud --format applies when you "
              "submit",
    "cloud_key": "credentials stay with whoever submits: bash submit.sh --cloud_key KEY",
}


class _NotForExport(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        kwargs.update(nargs="?", help=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, f"not part of an export: "
                                           f"{_PER_SUBMISSION[self.dest]}")


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
    defaults = {"dry_run": False, "format": "text", "show_program": False}
    for dest in _PER_SUBMISSION:
        g.add_argument(f"--{dest}", dest=dest, action=_NotForExport,
                       default=defaults.get(dest))

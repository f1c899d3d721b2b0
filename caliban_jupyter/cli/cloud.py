"""`caliban cloud`: package code into an image and submit one job per experiment."""

from __future__ import annotations

import argparse
import sys

HELP = "Build an image of your code and submit it as a labeled job sweep (Vertex AI or local)."

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
    w = p.add_argument_group("where")
    w.add_argument("--backend", choices=["vertex", "local"],
                   help="vertex (Google) or local (the Vertex emulator on this machine)")
    w.add_argument("--project_id", help="Google Cloud project (Vertex backend)")
    w.add_argument("--region", help="Vertex AI region (default us-central1)")
    w.add_argument("--endpoint", metavar="URL",
                   help="job service endpoint (default {region}-aiplatform.googleapis.com; "
                        "with --backend local, an emulator already running there)")
    w.add_argument("--output_dir", metavar="URI",
                   help="where jobs write outputs: gs://BUCKET/PREFIX (with --backend local "
                        "also a local directory; default: the emulator's own)")
    w.add_argument("--cloud_key", metavar="KEY_JSON",
                   help="service-account key for API calls from this machine; never enters "
                        "the image")
    from ..flags import add_runtime_arguments

    add_runtime_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument("--dry_run", action="store_true",
                   help="show the jobs that would be submitted; build and submit nothing")
    o.add_argument("--show_program", action="store_true",
                   help="with --dry_run, also print the program each job runs (for a cell or "
                        "notebook: the generated code)")
    o.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: print the CustomJob request bodies (with --dry_run) or records")


#: A sweep of more jobs than this is confirmed first (--yes skips the question).
CONFIRM_ABOVE = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_cloud_arguments(p)
    p.add_argument("--yes", "-y", action="store_true",
                   help=f"do not ask before submitting more than {CONFIRM_ABOVE} jobs")
    p.add_argument("module", metavar="MODULE", help="module, script, file or notebook to run")
    # A default keeps argparse from listing it among the required arguments.
    p.add_argument("_extra", nargs="*", default=[], help=argparse.SUPPRESS)
    p.set_defaults(_takes_script_args=True)


def run(args: argparse.Namespace) -> int:
    from ..service.plan import CloudRequest, plan_from_request
    from ..service.submission import execute
    from .render import render_run

    request = CloudRequest.from_namespace(args)
    plan = plan_from_request(request, stdin=sys.stdin)
    n = len(plan.specs)
    if n > CONFIRM_ABOVE and not request.dry_run:
        from ..ask import confirm

        # Asked on stderr: stdout stays the records (--format json). A config read from a
        # piped stdin leaves nobody to answer: confirm() then refuses and names --yes.
        if not confirm(f"Submit {n} jobs to {plan.backend} (experiment group {plan.xgroup})?",
                       action=f"submit {n} jobs", yes=args.yes, stdout=sys.stderr):
            print("nothing submitted", file=sys.stderr)
            return 1
    return render_run(plan, execute)


"""The one schema of ``caliban cloud``'s flags and settings: every flag once, with its name,
type, help, default, choices, metavar, group, what ``.calibanconfig.json`` may hold for it
and which surfaces take it. Pure data: it imports nothing of the package.

Everything else derives from :data:`FLAGS`: argparse (:mod:`caliban_jupyter.flags`, so the
CLI, the magics, the API and the server), the traits of ``%config Caliban``
(:mod:`caliban_jupyter.notebook.session`), settings resolution and the config file's checks
(:mod:`caliban_jupyter.settings`), the export's config and command
(:mod:`caliban_jupyter.service.export_config`, :mod:`caliban_jupyter.packaging.export`),
the widget form's fields and ``GET /caliban/api/flags`` (the lab dialog; served by
:func:`caliban_jupyter.flags.schema_json`, which also reads the backends' names).

It lives in spec/ because settings and packaging, below the front ends, read it too.
A runtime flag's *request mapping* stays in :mod:`caliban_jupyter.spec.runtime`
(:class:`~caliban_jupyter.spec.runtime.RuntimeFlags` and ``resolve_runtime``): adding one
is its entry here, its field and mapping there, and its emulator behaviour.
:func:`runtime_names` is what the mapping must cover (a unit test checks both agree).

Consumers read :data:`FLAGS` through this module's functions at call time, so a test can
replace it with a copy (``monkeypatch.setattr(flag_schema, "FLAGS", ...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["BACKENDS", "BOOT_DISK_TYPES", "FLAGS", "GROUPS", "RUNTIME_GROUPS", "SURFACES",
           "TYPES", "Flag", "by_name", "flags", "iter_groups", "runtime_names"]

#: Where a flag can be given. cli: ``caliban cloud``; magic: ``%%caliban_cloud``; api:
#: ``caliban_jupyter.cloud()`` and the server's submissions; config_file:
#: ``.calibanconfig.json``; settings: ``%config Caliban.NAME`` and an environment
#: variable; export: written into the ``.calibanconfig.json`` of ``caliban export``'s
#: directory (``caliban export`` takes every cli flag but the ``not_exported`` ones);
#: form: the widget form; lab: the JupyterLab "Run as job" dialog.
SURFACES = ("cli", "magic", "api", "config_file", "settings", "export", "form", "lab")
#: A flag's type as the API, the config file and the forms take it (the CLI's values stay
#: text: the plan validates them for every front end alike).
TYPES = ("str", "int", "float", "bool", "choice", "list", "json")
#: The groups of ``caliban cloud --help``, in its order; "config" holds the keys only
#: ``.calibanconfig.json`` takes.
GROUPS = ("what to run", "image", "where", "scheduling", "runtime", "distributed", "cost",
          "output", "config")
#: The groups whose flags are a job's runtime (spec/runtime.py's RuntimeFlags).
RUNTIME_GROUPS = ("scheduling", "runtime", "distributed")

#: ``choices`` read when asked (by caliban_jupyter.flags.choices_of): the backends
#: registered now (service/backends.py, a layer up), and the boot disk types
#: (spec/pools.py, whose import reads the accelerator catalog: not for ``--help``).
BACKENDS = "backends"
BOOT_DISK_TYPES = "boot_disk_types"

_CLOUD = ("cli", "magic", "api")


@dataclass(frozen=True)
class Flag:
    """One flag of ``caliban cloud`` (or one key of ``.calibanconfig.json``).

    ``name`` is the API keyword and config key (``labels``); ``option``/``short``/``dest``
    say how argparse spells it when that differs (``--label``, ``-l``, ``label``).
    """

    name: str
    type: str
    help: str
    group: str
    surfaces: tuple[str, ...]
    default: Any = None
    #: The values offered, or where to read them when asked (:data:`BACKENDS`,
    #: :data:`BOOT_DISK_TYPES`).
    choices: tuple[str, ...] | str | None = None
    #: Whether argparse refuses other values (else the plan says why, in its own words).
    strict_choices: bool = True
    metavar: str | None = None
    option: str | None = None
    short: str | None = None
    dest: str | None = None
    #: What ``.calibanconfig.json`` takes for it (its error messages say this).
    takes: str | None = None
    #: How the config file's value applies: "setting" (resolved with the settings:
    #: flag > session > environment > file > default) or "job" (a flag of every job the
    #: command line's replaces: see service/plan.py ``with_config_flags``).
    layer: str | None = None
    #: The config file's JSON type when it differs from ``type``.
    config_type: str | None = None
    #: Environment variables consulted for a setting, in order.
    env_vars: tuple[str, ...] = ()
    #: Why ``caliban export`` refuses it (a flag of one submission, not of the job).
    not_exported: str | None = None
    #: The widget form's label and placeholder, and its control when not the type's (a
    #: text field, a checkbox for a bool, a dropdown for a choice): "strategy" joins the
    #: flags that are one choice (Spot, flex-start) into one toggle, "catalog" is picked
    #: from the accelerator catalog's dropdowns, "editor" is the experiment editor.
    label: str | None = None
    placeholder: str = ""
    control: str | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"flag {self.name}: type {self.type!r} is not one of {TYPES}")
        if self.group not in GROUPS:
            raise ValueError(f"flag {self.name}: group {self.group!r} is not one of {GROUPS}")
        unknown = set(self.surfaces) - set(SURFACES)
        if unknown:
            raise ValueError(f"flag {self.name}: unknown surface {sorted(unknown)[0]!r}")

    @property
    def argdest(self) -> str:
        """The argparse dest (the parsed namespace's attribute)."""
        return self.dest or self.name

    @property
    def runtime(self) -> bool:
        """Whether it is a job's runtime flag (a field of RuntimeFlags)."""
        return self.group in RUNTIME_GROUPS and "cli" in self.surfaces

    @property
    def form_control(self) -> str:
        """How the widget form asks for it: text, check, dropdown or :attr:`control`."""
        return self.control or {"bool": "check", "choice": "dropdown"}.get(self.type, "text")


def _f(name: str, type: str, help: str, group: str, surfaces: tuple[str, ...],
       **kw: Any) -> Flag:
    return Flag(name=name, type=type, help=help, group=group, surfaces=surfaces, **kw)


_ANY_JOB = (*_CLOUD, "config_file", "export")

# The order is the config file's and the export's (what, how, where); `caliban cloud
# --help` lists the groups in GROUPS order, each group's flags in this order.
FLAGS: tuple[Flag, ...] = (
    # ------------------------------------------------------------------ what to run
    _f("nogpu", "bool", "CPU-only job (default machine n1-highcpu-32, no default GPU)",
       "what to run", (*_ANY_JOB, "form", "lab"), default=False, layer="job",
       takes="true or false (CPU-only jobs)"),
    _f("gpu_spec", "str", "GPUs per job, e.g. 2xV100 (default 1xP100 unless "
       "--nogpu/--tpu_spec)", "what to run", (*_ANY_JOB, "form", "lab"),
       metavar="NUMxGPU_TYPE", layer="job", takes="GPUs per job such as \"2xV100\" (string)",
       control="catalog"),
    _f("tpu_spec", "str", "TPU cores per job, e.g. 8xV3", "what to run",
       (*_ANY_JOB, "form", "lab"), metavar="NUMxTPU_TYPE", layer="job",
       takes="TPU cores per job such as \"8xV3\" (string)", control="catalog"),
    _f("machine_type", "str", "Vertex machine type (default: see --helpfull)", "what to run",
       (*_ANY_JOB, "form", "lab"), layer="job",
       takes="a Vertex AI machine type such as \"n1-standard-8\" (string)",
       control="catalog"),
    _f("force", "bool", "skip accelerator/machine/region combination checks (never syntax)",
       "what to run", (*_ANY_JOB, "form"), default=False, layer="job",
       takes="true or false (skip accelerator/machine/region combination checks)"),
    _f("experiment_config", "json", "JSON experiment config broadcast into one job per "
       "combination", "what to run", (*_ANY_JOB, "form", "lab"), metavar="PATH|stdin",
       layer="job", config_type="str",
       takes="path of a JSON experiment config, relative to the file (string)",
       control="editor"),
    _f("tune", "json", "hyperparameter search: a JSON search space (a file; in a notebook "
       "also the name of a dict variable) run as one Vertex tuning job whose trials get "
       "its parameters as --name=value; see README 'Hyperparameter search'", "what to run",
       _CLOUD, metavar="SPACE",
       not_exported="a search is submitted, not exported: caliban cloud --tune SPACE"),
    _f("name", "str", "job name prefix (default caliban_{user})", "what to run",
       (*_ANY_JOB, "form"), layer="job", takes="the job name prefix (string)",
       placeholder="caliban_{user}"),
    _f("labels", "list", "label for every job (repeatable)", "what to run",
       (*_ANY_JOB, "form"), default=[], metavar="KEY=VALUE", option="label", short="-l",
       dest="label", layer="job", config_type="json",
       takes="an object of label names to values, e.g. {\"team\": \"vision\"}",
       placeholder="key=value, key2=value2"),
    _f("outputs", "list", "save this variable of the program (a cell, script or notebook) "
       "after it ends, for sweep.results() / `caliban outputs` (repeatable)", "what to run",
       (*_CLOUD, "form"), default=[], metavar="NAME", option="output", short="-o",
       dest="output", label="outputs (-o)", placeholder="values to bring back: loss, weights"),
    _f("xgroup", "str", "experiment group (default {user}-xgroup-{YYYY-mm-dd-HH-MM-SS}, "
       "with -2, -3... when another submission has it)", "what to run",
       (*_CLOUD, "form", "lab"), metavar="NAME", placeholder="{user}-xgroup-{timestamp}",
       not_exported="the experiment group is chosen when you submit: bash submit.sh "
                    "--xgroup NAME"),
    # ------------------------------------------------------------------------ image
    _f("dirs", "list", "extra directory to copy into the image (repeatable, order kept)",
       "image", (*_ANY_JOB, "form"), default=[], metavar="DIR", option="dir", short="-d",
       dest="dir", layer="job",
       takes="a list of directories to copy into the image, relative to the file",
       placeholder="data, configs"),
    _f("extras", "list", "setup.py/pyproject extras to install (repeatable)", "image",
       (*_ANY_JOB, "form"), default=[], layer="job",
       takes="a list of setup.py/pyproject.toml extras to install", placeholder="gpu, tf"),
    _f("base_image", "str", "base image for the job's image", "image",
       (*_ANY_JOB, "settings", "form", "lab"), metavar="IMAGE", layer="setting",
       config_type="json", env_vars=("CALIBAN_BASE_IMAGE",),
       takes="an image name, or {\"cpu\": IMAGE, \"gpu\": IMAGE}", label="base image",
       placeholder="from settings"),
    _f("image_tag", "str", "run this existing image; skip build and push", "image",
       (*_CLOUD, "form"), metavar="IMAGE", label="image tag",
       placeholder="run an existing image: no build",
       not_exported="an export is the job's source; to run an existing image, use caliban "
                    "cloud --image_tag"),
    _f("apt_packages", "json", "Debian packages installed in the image", "config",
       ("config_file", "export"), layer="setting",
       takes="a list of Debian packages, or {\"cpu\": [...], \"gpu\": [...]}"),
    _f("registry", "str", "where to push, e.g. us-central1-docker.pkg.dev/PROJECT/REPO "
       "(Vertex default: REGION-docker.pkg.dev/PROJECT/caliban)", "image",
       (*_ANY_JOB, "settings", "form"), metavar="REGISTRY", layer="setting",
       env_vars=("CALIBAN_REGISTRY",),
       takes="a registry prefix such as us-central1-docker.pkg.dev/PROJECT/REPO",
       placeholder="us-central1-docker.pkg.dev/PROJECT/REPO"),
    # ---------------------------------------------------------------------- runtime
    _f("spot", "bool", "run on Spot VMs: far cheaper, but may be preempted", "scheduling",
       (*_ANY_JOB, "form", "lab"), default=False, layer="job", takes="true or false "
       "(Spot VMs)", label="Spot", control="strategy"),
    _f("flex_start", "bool", "queue until L4/A100/H100/H200/B200 capacity is free (Dynamic "
       "Workload Scheduler), then run uninterrupted", "scheduling",
       (*_ANY_JOB, "form", "lab"), default=False, layer="job",
       takes="true or false (wait for capacity with the Dynamic Workload Scheduler)",
       label="flex-start", control="strategy"),
    _f("max_wait", "str", "with --flex_start: how long to wait for capacity, e.g. 2h "
       "(0s: forever)", "scheduling", (*_ANY_JOB, "form", "lab"), metavar="DURATION",
       layer="job", takes="with flex_start, how long to wait for capacity, e.g. \"2h\" "
       "(string)", label="max wait", placeholder="flex-start: wait this long for capacity, "
       "e.g. 2h"),
    _f("timeout", "str", "stop the job after this long, e.g. 90m, 2h, 3600s, 1d",
       "scheduling", (*_ANY_JOB, "form", "lab"), metavar="DURATION", layer="setting",
       takes="a job timeout such as \"90m\", \"2h\" or \"1d\" (string)",
       placeholder="e.g. 90m, 2h, 1d (none: Vertex's 7 days)"),
    _f("restart_on_worker_restart", "bool", "restart the whole job when a worker restarts "
       "(e.g. preempted)", "scheduling", (*_ANY_JOB, "form"), default=False, layer="job",
       takes="true or false", label="restart the job when a worker restarts"),
    _f("disable_retries", "bool", "fail instead of retrying on internal errors",
       "scheduling", (*_ANY_JOB, "form"), default=False, layer="job", takes="true or false",
       label="disable retries"),
    _f("env", "list", "environment variable of every replica (repeatable; never a label)",
       "runtime", (*_ANY_JOB, "form"), default=[], metavar="KEY=VALUE", dest="job_env",
       layer="setting", config_type="json",
       takes="environment variables of every job, {\"NAME\": \"value\"}",
       placeholder="KEY=VALUE, KEY2=VALUE2 (never labels)"),
    _f("service_account", "str", "service account the job runs as", "runtime",
       (*_ANY_JOB, "form"), metavar="EMAIL", layer="setting",
       takes="the jobs' service account email (string)", label="service account",
       placeholder="trainer@PROJECT.iam.gserviceaccount.com"),
    _f("network", "str", "VPC network to peer the job with", "runtime", (*_ANY_JOB, "form"),
       metavar="projects/N/global/networks/NAME", layer="setting",
       takes="projects/PROJECT_NUMBER/global/networks/NAME (string)",
       placeholder="projects/NUMBER/global/networks/NAME"),
    _f("tensorboard", "str", "TensorBoard instance for the job's logs (needs "
       "--service_account)", "runtime", (*_ANY_JOB, "form"),
       metavar="projects/P/locations/L/tensorboards/ID", layer="setting",
       takes="projects/P/locations/L/tensorboards/ID (string)",
       placeholder="projects/P/locations/L/tensorboards/ID"),
    _f("enable_web_access", "bool", "interactive shell access to the replicas (URIs in "
       "caliban status)", "runtime", (*_ANY_JOB, "form"), default=False, layer="job",
       takes="true or false", label="web access (shell into replicas)"),
    _f("boot_disk_size", "int", "boot disk size (100 to 64000)", "runtime",
       (*_ANY_JOB, "form"), metavar="GB", layer="setting",
       takes="boot disk size in GB (number)", label="boot disk GB",
       placeholder="100 to 64000 (default 100)"),
    _f("boot_disk_type", "choice", "pd-ssd (default), pd-standard or hyperdisk-balanced",
       "runtime", (*_ANY_JOB, "form"), choices=BOOT_DISK_TYPES, strict_choices=False,
       metavar="TYPE", layer="setting",
       takes="'pd-ssd', 'pd-standard' or 'hyperdisk-balanced'", label="boot disk"),
    _f("reservation", "str", "consume this Compute Engine reservation", "runtime",
       (*_ANY_JOB, "form"), metavar="NAME", layer="setting",
       takes="a Compute Engine reservation name (string)",
       placeholder="a Compute Engine reservation name"),
    _f("workers", "int", "N worker replicas besides the chief (workerpool1), same image and "
       "args; CLUSTER_SPEC and TF_CONFIG tell each its role", "distributed",
       (*_ANY_JOB, "form", "lab"), metavar="N", layer="job",
       takes="the number of worker replicas besides the chief (number)",
       placeholder="0: the chief only"),
    _f("worker_machine_type", "str", "machine type of the workers (default: the chief's)",
       "distributed", (*_ANY_JOB, "form", "lab"), metavar="MACHINE", layer="job",
       takes="the workers' machine type (string)", label="worker machine",
       placeholder="default: the chief's"),
    _f("worker_gpu_spec", "str", "GPUs per worker (default: the chief's; 'none' for CPU "
       "workers)", "distributed", (*_ANY_JOB, "form", "lab"), metavar="NUMxGPU_TYPE",
       layer="job", takes="GPUs per worker such as \"1xT4\", or \"none\" (string)",
       label="worker GPUs", placeholder="default: the chief's; none: CPU only"),
    # ------------------------------------------------------------------ cost
    _f("max_cost", "float", "ask before submitting a sweep estimated above USD (at most, with "
       "--timeout; per hour without); setting max_cost, CALIBAN_MAX_COST", "cost",
       (*_CLOUD, "config_file", "settings"), metavar="USD", layer="setting",
       env_vars=("CALIBAN_MAX_COST",),
       takes="a positive amount of US dollars (number): a sweep whose bound (or hourly "
             "rate, without --timeout) is above it asks first",
       label="max cost (USD)"),
    # ------------------------------------------------------------------------ build
    _f("build", "choice", "docker: build locally; package: no image, a code package on a "
       "prebuilt image; cloudbuild: build on Google Cloud Build (default auto: docker when "
       "an engine answers, else package)", "image", (*_ANY_JOB, "settings"),
       choices=("auto", "docker", "package", "cloudbuild"), layer="setting",
       env_vars=("CALIBAN_BUILD",), takes="'auto', 'docker', 'package' or 'cloudbuild'"),
    _f("staging_bucket", "str", "where packages and build contexts are uploaded (package "
       "and cloudbuild on Vertex)", "image", (*_ANY_JOB, "settings"),
       metavar="gs://BUCKET[/PREFIX]", layer="setting", env_vars=("CALIBAN_STAGING_BUCKET",),
       takes="where code packages and build contexts are uploaded, gs://BUCKET[/PREFIX]"),
    _f("executor_image", "str", "prebuilt image for --build package, e.g. pytorch-2.4-gpu "
       "(default: scikit-learn CPU / PyTorch GPU; with --backend local, the base image)",
       "image", (*_ANY_JOB, "settings"), metavar="NAME|URI", layer="setting",
       env_vars=("CALIBAN_EXECUTOR_IMAGE",),
       takes="the prebuilt image --build package runs on: a short name such as "
             "pytorch-2.4-gpu, or an image URI (string)"),
    # ------------------------------------------------------------------------ where
    _f("backend", "choice", "the job service: vertex (Google), local (the Vertex emulator on "
       "this machine) or another installed one",
       "where", (*_ANY_JOB, "settings", "form", "lab"),
       choices=BACKENDS, layer="setting",
       env_vars=("CALIBAN_BACKEND",),
       takes="the name of an installed job service, such as 'vertex' or 'local'"),
    _f("project_id", "str", "Google Cloud project (Vertex backend)", "where",
       (*_ANY_JOB, "settings", "form", "lab"), layer="setting", env_vars=("PROJECT_ID",),
       takes="a Google Cloud project id (string)", label="project id",
       placeholder="from settings"),
    _f("region", "str", "Vertex AI region (default us-central1)", "where",
       (*_ANY_JOB, "settings", "form", "lab"), layer="setting", env_vars=("REGION",),
       takes="a Vertex AI region such as us-central1 (string)", control="catalog"),
    _f("endpoint", "str", "job service endpoint (default {region}-aiplatform.googleapis.com; "
       "with --backend local, an emulator already running there)", "where",
       (*_ANY_JOB, "settings"), metavar="URL", layer="setting",
       env_vars=("CALIBAN_ENDPOINT",),
       takes="the job service endpoint, e.g. http://127.0.0.1:8470 (string)"),
    _f("output_dir", "str", "where jobs write outputs: gs://BUCKET/PREFIX (with --backend "
       "local also a local directory; default: the emulator's own)", "where",
       (*_CLOUD, "config_file", "settings", "form"), metavar="URI", layer="setting",
       env_vars=("CALIBAN_OUTPUT_DIR",),
       takes="where jobs write their outputs: gs://BUCKET/PREFIX (a local directory "
             "with the local backend) (string)", label="output dir",
       placeholder="gs://BUCKET/PREFIX (from settings)"),
    _f("cloud_key", "str", "service-account key for API calls from this machine; never "
       "enters the image", "where", (*_CLOUD, "config_file", "settings", "form"),
       metavar="KEY_JSON", layer="setting", env_vars=("GOOGLE_APPLICATION_CREDENTIALS",),
       takes="path to a service-account key JSON file (string)", label="cloud key",
       placeholder="service-account key JSON path",
       not_exported="credentials stay with whoever submits: bash submit.sh --cloud_key KEY"),
    # ------------------------------------------------------------------------- args
    _f("args", "list", "arguments for every job, before the experiment's own", "config",
       ("config_file", "export"), layer="job",
       takes="a list of arguments for every job, before the experiment's own"),
    # ----------------------------------------------------------------------- output
    _f("dry_run", "bool", "show the jobs that would be submitted; build and submit nothing",
       "output", _CLOUD, default=False,
       not_exported="to see the jobs an export submits: bash submit.sh --dry_run"),
    _f("show_program", "bool", "with --dry_run, also print the program each job runs (for a "
       "cell or notebook: the generated code)", "output", _CLOUD, default=False,
       not_exported="the program is main.py in the directory"),
    _f("format", "choice", "json: print the CustomJob request bodies (with --dry_run) or "
       "records", "output", _CLOUD, default="text", choices=("text", "json"),
       not_exported="the export prints what it wrote; caliban cloud --format applies when "
                    "you submit"),
)


def flags(surface: str | None = None, *, group: str | None = None) -> tuple[Flag, ...]:
    """The flags of :data:`FLAGS` a surface takes (all without one), in schema order."""
    return tuple(f for f in FLAGS if (surface is None or surface in f.surfaces)
                 and (group is None or f.group == group))


def by_name(name: str) -> Flag:
    """The flag called ``name`` (its API keyword and config key)."""
    for f in FLAGS:
        if f.name == name:
            return f
    raise KeyError(name)


def runtime_names() -> tuple[str, ...]:
    """The argparse dests of the runtime flags: RuntimeFlags' fields must be these."""
    return tuple(f.argdest for f in FLAGS if f.runtime)


def iter_groups(surface: str = "cli") -> Iterator[tuple[str, tuple[Flag, ...]]]:
    """(group, its flags a surface takes) in :data:`GROUPS` order, empty groups left out."""
    for group in GROUPS:
        members = tuple(f for f in FLAGS if f.group == group and surface in f.surfaces)
        if members:
            yield group, members


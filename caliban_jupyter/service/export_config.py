"""The ``.calibanconfig.json`` of an exported job: the project's settings, then the flags
of the request, so that ``caliban cloud`` in the directory submits the same jobs.

What stays with whoever submits is left out and said: the cloud key (a credential, and a
path on this machine) and environment variables whose names suggest a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..packaging.export import EXPERIMENT
from .plan import CloudRequest

#: Settings that may be given as flags; written when they were.
_SETTING_FLAGS = ("base_image", "registry", "build", "staging_bucket", "executor_image",
                  "backend", "project_id", "region", "endpoint")
_RUNTIME_SWITCHES = ("spot", "flex_start", "restart_on_worker_restart", "disable_retries",
                     "enable_web_access")
_RUNTIME_VALUES = ("max_wait", "timeout", "service_account", "network", "tensorboard",
                   "reservation", "boot_disk_size", "boot_disk_type", "workers",
                   "worker_machine_type", "worker_gpu_spec")


def job_config(request: CloudRequest, merged: CloudRequest, dirs: Sequence[str],
               has_experiments: bool, notes: list[str]) -> dict[str, Any]:
    """The config file's content; ``merged`` is ``request`` with the project's job flags
    (``service.with_config_flags``), ``dirs`` its normalized ``--dir`` paths. Appends to
    ``notes`` what it leaves out."""
    from ..settings import JOB_KEYS, load_config_file
    from ..spec.labels import parse_label_flags

    project = load_config_file(request.cwd)
    config = {k: v for k, v in project.items() if k not in JOB_KEYS and k != "cloud_key"}
    config.update({k: getattr(request, k) for k in _SETTING_FLAGS if getattr(request, k)})
    if request.cloud_key or "cloud_key" in project:
        notes.append("left the cloud key out: credentials stay with whoever submits "
                     "(--cloud_key or GOOGLE_APPLICATION_CREDENTIALS)")
    if merged.nogpu:
        config["nogpu"] = True
    for key in ("gpu_spec", "tpu_spec", "machine_type", "name"):
        if getattr(merged, key):
            config[key] = getattr(merged, key)
    if merged.force:
        config["force"] = True
    if has_experiments:
        config["experiment_config"] = EXPERIMENT
    if merged.labels:
        config["labels"] = dict(parse_label_flags(merged.labels))
    if dirs:
        config["dirs"] = list(dirs)
    if merged.extras:
        config["extras"] = list(merged.extras)
    runtime = merged.runtime
    config.update({k: True for k in _RUNTIME_SWITCHES if getattr(runtime, k)})
    config.update({k: getattr(runtime, k) for k in _RUNTIME_VALUES if getattr(runtime, k)})
    env = _env(project.get("env"), runtime.job_env, notes)
    if env:
        config["env"] = env
    else:
        config.pop("env", None)
    if merged.script_args:
        config["args"] = list(merged.script_args)
    return config


def _env(project: Any, flags: Sequence[str], notes: list[str]) -> dict[str, str]:
    """The jobs' environment variables, without the ones whose names suggest a secret."""
    from ..spec.runtime import is_secret_name, parse_env

    env = dict(parse_env(project, "env")) if project else {}
    env.update(parse_env(flags))
    secret = sorted(name for name in env if is_secret_name(name))
    if secret:
        notes.append(f"left out the environment variable{'s' if len(secret) > 1 else ''} "
                     f"{', '.join(secret)}: {'they look' if len(secret) > 1 else 'it looks'} "
                     "like a secret; pass it when you submit (bash submit.sh --env "
                     f"{secret[0]}=...)")
    return {name: value for name, value in env.items() if name not in secret}

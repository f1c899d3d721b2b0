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


def _written() -> dict[str, tuple[str, ...]]:
    """The flag schema's flags an export writes, by how: settings given as flags (written
    when they were), plain job flags (the switches and values of the merged request) and
    runtime switches and values (``env`` aside: merged with the project's)."""
    from ..spec.flag_schema import flags

    exported = [f for f in flags("export") if "cli" in f.surfaces]
    return {
        "settings": tuple(f.name for f in exported if f.layer == "setting" and not f.runtime),
        "job": tuple(f.name for f in exported if f.layer == "job" and not f.runtime
                     and f.type in ("bool", "str")),
        "runtime_switches": tuple(f.name for f in exported if f.runtime and f.type == "bool"),
        "runtime_values": tuple(f.argdest for f in exported if f.runtime and f.type != "bool"
                                and f.type != "list"),
    }


def job_config(request: CloudRequest, merged: CloudRequest, dirs: Sequence[str],
               has_experiments: bool, notes: list[str]) -> dict[str, Any]:
    """The config file's content; ``merged`` is ``request`` with the project's job flags
    (``service.with_config_flags``), ``dirs`` its normalized ``--dir`` paths. Appends to
    ``notes`` what it leaves out."""
    from ..settings import JOB_KEYS, load_config_file
    from ..spec.labels import parse_label_flags

    project = load_config_file(request.cwd)
    config = {k: v for k, v in project.items() if k not in JOB_KEYS and k != "cloud_key"}
    written = _written()
    config.update({k: getattr(request, k) for k in written["settings"]
                   if getattr(request, k)})
    if request.cloud_key or "cloud_key" in project:
        notes.append("left the cloud key out: credentials stay with whoever submits "
                     "(--cloud_key or GOOGLE_APPLICATION_CREDENTIALS)")
    config.update({k: getattr(merged, k) for k in written["job"] if getattr(merged, k)})
    if has_experiments:
        config["experiment_config"] = EXPERIMENT
    if merged.labels:
        config["labels"] = dict(parse_label_flags(merged.labels))
    if dirs:
        config["dirs"] = list(dirs)
    if merged.extras:
        config["extras"] = list(merged.extras)
    runtime = merged.runtime
    config.update({k: True for k in written["runtime_switches"] if getattr(runtime, k, None)})
    config.update({k: getattr(runtime, k) for k in written["runtime_values"]
                   if getattr(runtime, k, None)})
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

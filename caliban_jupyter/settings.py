"""Settings resolution: flag > session (%config) > environment > .calibanconfig.json > default.

Each resolved value remembers where it came from (``Settings.sources``), which
``%caliban_config`` and ``caliban cloud --dry_run`` show.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .spec import flag_schema
from .spec.defaults import (  # noqa: F401  (importable from here, as before)
    DEFAULT_CPU_MACHINE,
    DEFAULT_GPU_MACHINE,
    DEFAULT_GPU_SPEC,
    DEFAULT_REGION,
)

CONFIG_FILE = ".calibanconfig.json"
#: How jobs become runnable (--build): see caliban_jupyter/service/build.py.
BUILD_MODES = tuple(flag_schema.by_name("build").choices or ())
# Public defaults: see the README ("Base images") for why these two.
DEFAULT_BASE_IMAGES = {
    "cpu": "python:3.11-slim",
    "gpu": "us-docker.pkg.dev/deeplearning-platform-release/gcr.io/base-cu121.py310",
}

# Everything below derives from the flag schema (spec/flag_schema.py).

#: key -> human description of what it takes; unknown keys are rejected by name.
CONFIG_KEYS = {f.name: f.takes or f.help for f in flag_schema.flags("config_file")}
#: Settings that go to every job's runtime (JobRuntime), not to where jobs run.
RUNTIME_KEYS = tuple(f.name for f in flag_schema.flags("config_file")
                     if f.layer == "setting" and f.group in flag_schema.RUNTIME_GROUPS)
#: The other flags of `caliban cloud` a project, or a job directory written by `caliban
#: export`, keeps beside its code. A flag on the command line wins (service/plan.py's
#: with_config_flags merges them).
JOB_KEYS = {f.name: f.takes or f.help for f in flag_schema.flags("config_file")
            if f.layer == "job"}
#: The job keys that are on/off flags.
JOB_SWITCHES = tuple(k for k in JOB_KEYS if flag_schema.by_name(k).type == "bool")
#: The settings `caliban cloud` takes as flags (``%config Caliban.NAME`` in a notebook
#: session, an environment variable each) besides the runtime ones.
FLAG_SETTINGS = tuple(f.name for f in flag_schema.flags("settings") if not f.runtime)
#: setting -> environment variables consulted, in order
ENV_VARS = {f.name: f.env_vars for f in flag_schema.flags("settings")}


def _config_type(key: str) -> str:
    flag = flag_schema.by_name(key)
    return flag.config_type or flag.type


@dataclass(frozen=True)
class Settings:
    """Where and how jobs run, independent of any one submission's flags."""

    gpu: bool
    project_id: str | None
    region: str
    backend: str
    cloud_key: str | None
    base_image: str
    apt_packages: tuple[str, ...]
    registry: str | None
    endpoint: str | None
    output_dir: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    #: The runtime settings that are set (RUNTIME_KEYS), e.g. {"timeout": "2h"}.
    runtime: Mapping[str, Any] = field(default_factory=dict)
    build: str = "auto"
    staging_bucket: str | None = None
    executor_image: str | None = None
    #: USD: a sweep estimated above it asks first (spec/cost.py); None: never asks.
    max_cost: float | None = None

    @property
    def mode(self) -> str:
        return "gpu" if self.gpu else "cpu"

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "project_id": self.project_id,
            "region": self.region,
            "backend": self.backend,
            "cloud_key": self.cloud_key,
            "base_image": self.base_image,
            "apt_packages": list(self.apt_packages),
            "registry": self.registry,
            "endpoint": self.endpoint,
            **self._runtime_json(),
            "build": self.build,
            "staging_bucket": self.staging_bucket,
            "executor_image": self.executor_image,
            "output_dir": self.output_dir,
            "max_cost": self.max_cost,
        }

    def _runtime_json(self) -> dict[str, Any]:
        out = dict(self.runtime)
        if "env" in out:
            # Shown by %caliban_config: secret-looking values stay hidden.
            from .spec.runtime import shown_env

            out["env"] = ", ".join(shown_env((str(k), str(v)) for k, v in out["env"].items()))
        return out


def load_config_file(cwd: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Read ``.calibanconfig.json`` in ``cwd`` ({} when absent), rejecting unknown keys."""
    path = Path(cwd) / CONFIG_FILE
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; caliban reads its settings from a JSON "
                          "file of that name: remove or rename the directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save it "
                          "as UTF-8 JSON") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}; make it readable, or remove "
                          "it") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        allowed = ", ".join(sorted(CONFIG_KEYS))
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}" +
                          (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "") +
                          f"; allowed keys: {allowed}")
    _check_types(data, path)
    env = data.get("env")
    if env is not None and (not isinstance(env, dict) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for v in env.values())):
        raise ConfigError(f"{path}: 'env' must be {CONFIG_KEYS['env']} (values text or "
                          "numbers)")
    return data


def _check_types(data: Mapping[str, Any], path: Path) -> None:
    """Each key's value has its flag's type (the flag schema's; numbers may be text, the
    plan checks them). The objects (labels, env, per-mode images) are checked apart."""
    for key in CONFIG_KEYS:
        if key not in data:
            continue
        kind, value = _config_type(key), data[key]
        if kind in ("str", "choice") and not isinstance(value, str):
            raise ConfigError(f"{path}: {key!r} must be {CONFIG_KEYS[key]}")
        if kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{path}: {key!r} must be {CONFIG_KEYS[key]}")
        if kind == "list" and not (isinstance(value, list)
                                   and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{path}: {key!r} must be {CONFIG_KEYS[key]} (strings)")
        numbers = (int, str) if kind == "int" else (int, float, str)
        if kind in ("int", "float") and (isinstance(value, bool)
                                         or not isinstance(value, numbers)):
            raise ConfigError(f"{path}: {key!r} must be {CONFIG_KEYS[key]}")
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(
            isinstance(v, (str, int, float)) for v in labels.values()):
        raise ConfigError(f"{path}: 'labels' must be {CONFIG_KEYS['labels']}, each value a "
                          "string or a number")


def job_flags(cwd: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The ``caliban cloud`` flags kept in ``.calibanconfig.json`` (see :data:`JOB_KEYS`).

    Paths (``experiment_config``, ``dirs``) stay as written: relative to ``cwd``, which is
    where the file is and where ``caliban cloud`` packages from.
    """
    config = load_config_file(cwd)
    return {key: config[key] for key in JOB_KEYS if key in config}


def _per_mode(value: Any, key: str, path: str, item_check: type) -> dict[str, Any]:
    """``base_image``/``apt_packages``: one value for both modes, or ``{cpu, gpu}``."""
    if isinstance(value, dict):
        extra = set(value) - {"cpu", "gpu"}
        if extra:
            raise ConfigError(f"{path}: {key!r} may only have keys 'cpu' and 'gpu', "
                              f"not {sorted(extra)[0]!r}")
        out = dict(value)
    else:
        out = {"cpu": value, "gpu": value}
    for mode, v in out.items():
        if item_check is list:
            if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
                raise ConfigError(f"{path}: {key!r} ({mode}) must be a list of package names")
        elif not isinstance(v, str):
            raise ConfigError(f"{path}: {key!r} ({mode}) must be an image name (string)")
    return out


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    gpu: bool = True,
    cwd: str | os.PathLike[str] = ".",
    env: Mapping[str, str] | None = None,
    session: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting by precedence. ``flags`` and ``session`` map setting names to
    values, ``None`` meaning unset. Raises :class:`ConfigError` on bad input."""
    flags = flags or {}
    session = session or {}
    env = os.environ if env is None else env
    config = load_config_file(cwd)
    cfg_path = str(Path(cwd) / CONFIG_FILE)
    mode = "gpu" if gpu else "cpu"
    sources: dict[str, str] = {}

    def pick(key: str, default: Any = None) -> Any:
        if flags.get(key) not in (None, ""):
            sources[key] = "flag"
            return flags[key]
        if session.get(key) not in (None, ""):
            sources[key] = "%config Caliban"
            return session[key]
        for var in ENV_VARS.get(key, ()):
            if env.get(var):
                sources[key] = f"environment {var}"
                return env[var]
        if key in config:
            value = config[key]
            if key == "base_image":
                value = _per_mode(value, key, cfg_path, str)[mode] if value != {} else None
                if value is None:
                    sources[key] = "default"
                    return default
            elif key == "apt_packages":
                value = _per_mode(value, key, cfg_path, list).get(mode, [])
            sources[key] = CONFIG_FILE
            return value
        sources[key] = "default"
        return default

    # Any name: the installed job services are checked where one is loaded
    # (backends/registry.py), which lists them.
    backend = str(pick("backend", "vertex")).lower()
    apt = pick("apt_packages", [])
    runtime = {key: value for key in RUNTIME_KEYS
               if (value := pick(key)) not in (None, "", {})}
    build = str(pick("build", "auto")).lower()
    if build not in BUILD_MODES:
        raise ConfigError(f"unknown build mode {build!r} (from {sources['build']}); use "
                          "'auto' (Docker when an engine answers, else package), 'docker', "
                          "'package' (code package on a prebuilt image, no Docker) or "
                          "'cloudbuild' (build on Google Cloud Build)")
    staging = pick("staging_bucket")
    if staging and not str(staging).startswith("gs://"):
        raise ConfigError(f"staging_bucket {staging!r} (from {sources['staging_bucket']}) must "
                          "be a Cloud Storage location, gs://BUCKET or gs://BUCKET/PREFIX")
    max_cost = pick("max_cost")
    if max_cost is not None:
        from .spec.cost import parse_amount

        where = "--max_cost" if sources["max_cost"] == "flag" else \
            f"max_cost (from {sources['max_cost']})"
        max_cost = parse_amount(max_cost, where)
    return Settings(
        gpu=gpu,
        project_id=pick("project_id"),
        region=str(pick("region", DEFAULT_REGION)),
        backend=backend,
        cloud_key=pick("cloud_key"),
        base_image=str(pick("base_image", DEFAULT_BASE_IMAGES[mode])),
        apt_packages=tuple(apt),
        registry=pick("registry"),
        endpoint=pick("endpoint"),
        output_dir=pick("output_dir"),
        sources=sources,
        runtime=runtime,
        build=build,
        staging_bucket=str(staging).rstrip("/") if staging else None,
        executor_image=pick("executor_image"),
        max_cost=max_cost,
    )

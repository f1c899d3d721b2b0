"""The checks Vertex AI documents for a CustomJob create request. Pure.

Each check yields ``(field path, message)`` in Vertex's own form, relative to the CustomJob
(``job_spec.worker_pool_specs[0].machine_spec.accelerator_type``, as in the refusal quoted in
https://github.com/prefect-archive/prefect-gcp/issues/175), so the error a client sees names
the field to fix.

Machine types and accelerators are checked against the catalog the client validates with
(``spec/catalog.json`` through :mod:`caliban_jupyter.spec.catalog`): one source, so what
``caliban`` accepts the emulator accepts, and what it refuses (with ``--force``) the emulator
refuses as Vertex does. Where each message's wording comes from is said beside it; the
others are ours (no public source quotes Vertex's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

MAX_LABELS = 64
MAX_LABEL_LENGTH = 63
MAX_DISPLAY_NAME = 128
MAX_POOLS = 4
REQUIRED = "Required field is not set."


def _label_char_ok(c: str) -> bool:
    # International lowercase letters are allowed, like in all Google Cloud labels.
    return c.isdigit() or c in "_-" or (c.isalpha() and c == c.lower())


def label_problems(labels: Any) -> Iterator[tuple[str, str]]:
    """Violations of Google Cloud's label rules."""
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        yield "labels", "Labels must be a map of strings to strings."
        return
    if len(labels) > MAX_LABELS:
        yield (
            "labels",
            f"At most {MAX_LABELS} labels are allowed; got {len(labels)}.",
        )
    for key, value in labels.items():
        field = f"labels[{key!r}]"
        if not isinstance(key, str) or not key:
            yield field, "Label keys must be non-empty strings."
            continue
        if len(key) > MAX_LABEL_LENGTH:
            yield field, f"Label key is longer than {MAX_LABEL_LENGTH} characters."
        if not (key[0].isalpha() and key[0] == key[0].lower()):
            yield field, "Label keys must start with a lowercase letter."
        if not all(_label_char_ok(c) for c in key):
            yield field, (
                "Label keys may contain only lowercase letters, digits, underscores and "
                "dashes."
            )
        if not isinstance(value, str):
            yield field, "Label values must be strings."
            continue
        if len(value) > MAX_LABEL_LENGTH:
            yield field, f"Label value is longer than {MAX_LABEL_LENGTH} characters."
        if not all(_label_char_ok(c) for c in value):
            yield field, (
                "Label values may contain only lowercase letters, digits, underscores and "
                "dashes."
            )


def _replica_count(value: Any) -> int | None:
    # int64 arrives as a JSON string ("1"); accept a number too, as Google's parser does.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def pool_problems(i: int, pool: Any) -> Iterator[tuple[str, str]]:
    """Violations in worker pool ``i``."""
    base = f"job_spec.worker_pool_specs[{i}]"
    if not isinstance(pool, Mapping):
        yield base, "A worker pool spec must be an object."
        return
    machine = pool.get("machineSpec")
    if not isinstance(machine, Mapping) or not machine.get("machineType"):
        yield f"{base}.machine_spec.machine_type", REQUIRED
    else:
        yield from machine_problems(f"{base}.machine_spec", machine)
    container = pool.get("containerSpec")
    package = pool.get("pythonPackageSpec")
    if package is not None and container is not None:
        yield base, "Set either container_spec or python_package_spec, not both."
    elif package is not None:
        yield from _package_problems(f"{base}.python_package_spec", package)
    elif not isinstance(container, Mapping) or not container.get("imageUri"):
        yield f"{base}.container_spec.image_uri", REQUIRED
    else:
        for field in ("command", "args"):
            items = container.get(field, [])
            if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
                yield f"{base}.container_spec.{field}", "Must be a list of strings."
        env = container.get("env", [])
        if not isinstance(env, list) or not all(
            isinstance(e, Mapping) and isinstance(e.get("name"), str) and e["name"]
            for e in env
        ):
            yield f"{base}.container_spec.env", "Each env entry needs a non-empty name."
    count = _replica_count(pool.get("replicaCount", "0"))
    if count is None or count < 1:
        yield f"{base}.replica_count", "Replica count must be at least 1."


# Quoted by https://github.com/prefect-archive/prefect-gcp/issues/175 (Vertex's answer to a
# MachineSpec with an accelerator type and no count), field accelerator_type.
BOTH_OR_NONE = "Both `accelerator_type` and `accelerator_count` should be specified or none."


def _count(value: Any) -> int:
    # int32 arrives as a JSON number (or a string from some clients); absent means 0.
    n = _replica_count(value if value is not None else 0)
    return n if n is not None else 0


def machine_problems(base: str, machine: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Violations in one ``machineSpec``, decided by the catalog (``spec/catalog.json``)."""
    from ..spec.catalog import get_catalog

    cat = get_catalog()
    machine_type = str(machine["machineType"])
    accelerator = machine.get("acceleratorType") or None
    if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED":
        accelerator = None
    count = _count(machine.get("acceleratorCount"))
    if bool(accelerator) != (count > 0):
        yield f"{base}.accelerator_type", BOTH_OR_NONE
        return
    known = cat.machines.get(machine_type)
    if known is None:
        # Ours: no public source quotes Vertex's message for an unknown machine type.
        yield f"{base}.machine_type", (
            f'Machine type "{machine_type}" is not supported. See the machine types for '
            "custom training: https://cloud.google.com/vertex-ai/docs/training/"
            "configure-compute#machine-types")
        return
    if accelerator is None:
        return
    short = cat.by_vertex.get(str(accelerator))
    fits = [] if short is None or cat.accelerators[short].retired else [
        n for n in sorted({*cat.attach_limits(known, short), known.count})
        if n > 0 and cat.accepts(known, short, n)]
    if not fits:
        # Vertex's wording, quoted (as a bare message) by
        # https://github.com/GoogleCloudPlatform/vertex-ai-samples/issues/213 and
        # https://github.com/GoogleCloudPlatform/python-docs-samples/issues/13233.
        yield f"{base}.accelerator_type", (
            f'Accelerator "{accelerator}" is not supported for machine type '
            f'"{machine_type}".')
    elif count not in fits:
        # Vertex's wording, quoted by
        # https://github.com/GoogleCloudPlatform/vertex-ai-samples/issues/3372.
        yield f"{base}.accelerator_count", (
            f'The accelerator count "{count}" is not allowed. The allowed numbers of '
            f'accelerator "{accelerator}" to use with machine type "{machine_type}" are: '
            f"[{', '.join(map(str, fits))}].")


def _is_duration(value: Any) -> bool:
    # google.protobuf.Duration's JSON form: seconds with an "s" suffix ("5400s", "1.5s").
    if not isinstance(value, str) or not value.endswith("s"):
        return False
    try:
        return float(value[:-1]) >= 0
    except ValueError:
        return False


def scheduling_problems(scheduling: Any) -> Iterator[tuple[str, str]]:
    """Violations in ``job_spec.scheduling``."""
    base = "job_spec.scheduling"
    if scheduling is None:
        return
    if not isinstance(scheduling, Mapping):
        yield base, "Scheduling must be an object."
        return
    for key, field in (("timeout", "timeout"), ("maxWaitDuration", "max_wait_duration")):
        if key in scheduling and not _is_duration(scheduling[key]):
            yield f"{base}.{field}", "Must be a duration such as \"3600s\"."


def _package_problems(base: str, spec: Any) -> Iterator[tuple[str, str]]:
    """Violations in a ``pythonPackageSpec``."""
    if not isinstance(spec, Mapping):
        yield base, "A python package spec must be an object."
        return
    if not spec.get("executorImageUri"):
        yield f"{base}.executor_image_uri", REQUIRED
    uris = spec.get("packageUris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u
                                                         for u in uris):
        yield f"{base}.package_uris", "At least one package URI is required."
    if not spec.get("pythonModule"):
        yield f"{base}.python_module", REQUIRED
    args = spec.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        yield f"{base}.args", "Must be a list of strings."


def custom_job_problems(job: Any) -> list[tuple[str, str]]:
    """Every violation in a CustomJob create body (lowerCamelCase JSON)."""
    if not isinstance(job, Mapping):
        return [("custom_job", "The request body must be a CustomJob JSON object.")]
    problems: list[tuple[str, str]] = []
    name = job.get("displayName")
    if not isinstance(name, str) or not name.strip():
        problems.append(("display_name", REQUIRED))
    elif len(name) > MAX_DISPLAY_NAME:
        problems.append(
            ("display_name", f"Display name is longer than {MAX_DISPLAY_NAME} "
             "characters.")
        )
    problems.extend(label_problems(job.get("labels")))
    spec = job.get("jobSpec")
    if isinstance(spec, Mapping) and spec.get("baseOutputDirectory") is not None:
        from .outputs import FIELD, prefix_problem

        base = spec["baseOutputDirectory"]
        problem = prefix_problem(base.get("outputUriPrefix") if isinstance(base, Mapping)
                                 else None)
        if problem:
            problems.append((FIELD, problem))
    pools = spec.get("workerPoolSpecs") if isinstance(spec, Mapping) else None
    if not isinstance(pools, list) or not pools:
        problems.append(
            ("job_spec.worker_pool_specs", "At least one worker pool spec is "
             "required.")
        )
    else:
        if len(pools) > MAX_POOLS:
            problems.append(("job_spec.worker_pool_specs", f"At most {MAX_POOLS} "
                             "worker pools: chief, workers, parameter servers, evaluators."))
        # Vertex allows empty pools ({}) after the first as placeholders for unused roles.
        for i, pool in enumerate(pools[:MAX_POOLS]):
            if i > 0 and pool == {}:
                continue
            problems.extend(pool_problems(i, pool))
    if isinstance(spec, Mapping):
        problems.extend(scheduling_problems(spec.get("scheduling")))
    return problems

"""Worker pools beyond the chief, boot disks and reservations: the hardware side of a
multi-machine job. Pure; decided from the catalog like the chief's machine.

``--workers N`` adds ``workerPoolSpecs[1]`` with ``replicaCount: N``, the same image and
args as ``workerPoolSpecs[0]`` (the chief), and by default the chief's machine. Its own
machine (``--worker_machine_type``, ``--worker_gpu_spec``) is validated exactly as the
chief's is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ._suggest import choices, maybe_meant
from .accelerators import resolve_machine
from .catalog import Catalog, get_catalog
from .machine import MachineSpec
from .scheduling import FLEX_START, Scheduling

__all__ = ["BOOT_DISK_TYPES", "DiskSpec", "WorkerPool", "check_flex_start",
           "reservation_affinity", "resolve_disk", "resolve_workers"]

BOOT_DISK_TYPES = ("pd-ssd", "pd-standard", "hyperdisk-balanced")
#: Vertex AI training's boot disk limits (GB).
MIN_BOOT_DISK_GB, MAX_BOOT_DISK_GB = 100, 64000
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
# A Compute Engine resource name, or the reservation's full path.
_RESERVATION = re.compile(
    r"^(projects/[a-z0-9][-a-z0-9.:]*/zones/[a-z]+-[a-z]+\d+-[a-z]/reservations/)?"
    r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_FLAG = re.compile(r"--(gpu_spec|tpu_spec|machine_type)\b")


@dataclass(frozen=True)
class DiskSpec:
    """``workerPoolSpecs[].diskSpec``; ``None`` fields keep Vertex's defaults."""

    boot_disk_type: str | None = None
    boot_disk_size_gb: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.boot_disk_type:
            out["bootDiskType"] = self.boot_disk_type
        if self.boot_disk_size_gb is not None:
            out["bootDiskSizeGb"] = self.boot_disk_size_gb
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DiskSpec | None:
        if not data:
            return None
        size = data.get("bootDiskSizeGb")
        return cls(boot_disk_type=data.get("bootDiskType") or None,
                   boot_disk_size_gb=int(size) if size not in (None, "") else None)


@dataclass(frozen=True)
class WorkerPool:
    """``workerPoolSpecs[1]``: ``replica_count`` machines like ``machine``."""

    machine: MachineSpec
    replica_count: int


def whole_number(value: Any, flag: str, example: str) -> int:
    """``value`` (a flag's text, or a number from the API or a config file) as an int."""
    if isinstance(value, bool):
        raise SpecError(f"{flag} takes a whole number, not {value}; e.g. {flag} {example}")
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise SpecError(f"{flag} {value!r} is not a whole number; e.g. {flag} {example}")
    return int(text)


def resolve_disk(size: Any = None, disk_type: str | None = None, *,
                 size_flag: str = "--boot_disk_size",
                 type_flag: str = "--boot_disk_type") -> DiskSpec | None:
    """Validate the boot disk settings (``None`` when neither is given).

    Raises
    ------
    SpecError
        A size that is not a whole number of GB within Vertex's limits, or an unknown
        disk type (with the nearest one).
    """
    gb = None
    if size not in (None, ""):
        gb = whole_number(size, size_flag, "200")
        if not MIN_BOOT_DISK_GB <= gb <= MAX_BOOT_DISK_GB:
            near = min(max(gb, MIN_BOOT_DISK_GB), MAX_BOOT_DISK_GB)
            raise SpecError(f"{size_flag} {size}: Vertex AI boot disks are "
                            f"{MIN_BOOT_DISK_GB} to {MAX_BOOT_DISK_GB} GB; e.g. "
                            f"{size_flag} {near}")
    kind = (disk_type or "").strip().lower() or None
    if kind is not None and kind not in BOOT_DISK_TYPES:
        raise SpecError(f"{type_flag} {disk_type!r} is not a boot disk type Vertex AI "
                        f"training offers.{maybe_meant(kind, BOOT_DISK_TYPES)} Boot disk "
                        f"types: {', '.join(BOOT_DISK_TYPES)}")
    if gb is None and kind is None:
        return None
    return DiskSpec(boot_disk_type=kind, boot_disk_size_gb=gb)


def check_reservation(name: str, flag: str = "--reservation") -> str:
    """A reservation name (``my-reservation``) or its full path
    (``projects/P/zones/Z/reservations/NAME``), as given."""
    text = name.strip()
    if not _RESERVATION.match(text):
        raise SpecError(f"{flag} {name!r} is not a reservation name: use its name "
                        "(lowercase letters, digits and '-', starting with a letter, e.g. "
                        f"{flag} my-h100-reservation) or its full path "
                        "projects/PROJECT/zones/ZONE/reservations/NAME")
    return text


def reservation_affinity(name: str) -> dict[str, Any]:
    """``machineSpec.reservationAffinity`` consuming the reservation ``name``."""
    return {"reservationAffinityType": "SPECIFIC_RESERVATION", "key": RESERVATION_KEY,
            "values": [name]}


def _spec_text(cat: Catalog, machine: MachineSpec) -> str | None:
    if not machine.accelerator_type:
        return None
    return f"{machine.accelerator_count}x{cat.by_vertex.get(machine.accelerator_type)}"


def _family(cat: Catalog, machine: MachineSpec) -> str | None:
    known = cat.machines.get(machine.machine_type)
    return known.family if known else None


def resolve_workers(*, workers: Any, worker_machine_type: str | None = None,
                    worker_gpu_spec: str | None = None, chief: MachineSpec, region: str,
                    force: bool = False, catalog: Catalog | None = None,
                    ) -> WorkerPool | None:
    """The worker pool ``--workers`` asks for, or ``None`` (no workers).

    Without ``--worker_machine_type``/``--worker_gpu_spec`` the workers are machines
    like the chief. ``--worker_gpu_spec none`` gives CPU-only workers. A fixed-GPU
    ``--worker_machine_type`` brings its own GPUs.

    Raises
    ------
    SpecError
        A count that is not a whole number of 1 or more, worker flags without
        ``--workers``, a worker spec its machine type cannot take (with the machine types
        that can), or workers for a TPU job where the catalog does not allow them.
    """
    cat = catalog or get_catalog()
    count = whole_number(workers, "--workers", "3") if workers not in (None, "") else 0
    if count < 0:
        raise SpecError(f"--workers {workers}: the number of workers must be 0 or more, e.g. "
                        "--workers 3")
    given = [f for f, v in (("--worker_machine_type", worker_machine_type),
                            ("--worker_gpu_spec", worker_gpu_spec)) if v not in (None, "")]
    if count == 0:
        if given:
            raise SpecError(f"{given[0]} describes the worker machines, but the job has no "
                            f"workers; add --workers N (e.g. --workers 3), or drop {given[0]}")
        return None

    family = _family(cat, chief)
    if chief.accelerator_type and chief.accelerator_type.startswith("TPU") and family \
            and not cat.families[family].workers and not force:
        short = cat.by_vertex.get(chief.accelerator_type, chief.accelerator_type)
        allowed = sorted({a for f in cat.families.values() if f.workers
                          for a in f.accelerators if cat.accelerators[a].kind == "tpu"})
        instead = (f"a TPU type that allows them ({', '.join(allowed)})" if allowed else
                   f"GPUs for multi-machine training, e.g. --gpu_spec 8xA100 --workers {count}")
        raise SpecError(f"--workers {count}: Vertex AI runs a {short} TPU job on its TPU VM "
                        f"slice ({chief.machine_type}) alone, and this catalog "
                        f"({cat.meta.get('as_of', 'undated')}) allows no worker pool with "
                        f"{family}; a TPU job grows through a larger slice instead. Drop "
                        f"--workers, or use {instead}")

    gpu_text = (worker_gpu_spec or "").strip()
    if not given:
        return WorkerPool(machine=chief, replica_count=count)
    gpu_spec: str | None = None
    tpu_spec: str | None = None
    machine_type = (worker_machine_type or "").strip() or None
    fixed = cat.machines.get(cat.canonical_machine(machine_type)) if machine_type else None
    if gpu_text.lower() in ("none", "0", "cpu"):
        gpu_mode = False
    elif gpu_text:
        gpu_spec, gpu_mode = gpu_text, True
    elif fixed is not None and fixed.accelerators:
        gpu_mode = True  # the machine type brings its own accelerators
    else:
        chief_spec = _spec_text(cat, chief)
        is_tpu = bool(chief.accelerator_type and chief.accelerator_type.startswith("TPU"))
        gpu_spec = None if is_tpu else chief_spec
        tpu_spec = chief_spec if is_tpu else None
        gpu_mode = chief_spec is not None and not is_tpu
    try:
        machine = resolve_machine(gpu_spec=gpu_spec, tpu_spec=tpu_spec,
                                  machine_type=machine_type, region=region,
                                  gpu_mode=gpu_mode, force=force, catalog=cat)
    except SpecError as e:
        raise SpecError("workers: " + _FLAG.sub(r"--worker_\1", str(e))) from None
    return WorkerPool(machine=machine, replica_count=count)


def check_flex_start(scheduling: Scheduling, chief: MachineSpec,
                     workers: WorkerPool | None, *, force: bool = False,
                     catalog: Catalog | None = None) -> None:
    """Dynamic Workload Scheduler's rules on hardware: a GPU it queues, and one machine
    configuration in every pool.

    Raises
    ------
    SpecError
        With the GPUs flex-start takes, or the configuration to give the workers.
    """
    if scheduling.strategy != FLEX_START:
        return
    cat = catalog or get_catalog()
    short = cat.by_vertex.get(chief.accelerator_type or "")
    acc = cat.accelerators.get(short or "")
    offered = [a.short for a in cat.accelerators.values() if a.flex_start]
    if not force and (acc is None or not acc.flex_start):
        count = chief.accelerator_count or 1
        fits = [s for s in offered if count in cat.valid_counts(s)] or offered
        has = f"{chief.accelerator_label} on {chief.machine_type}" if acc else \
            f"no GPU ({chief.machine_type})"
        raise SpecError(f"--flex_start queues only {choices(offered)} GPUs, but this job "
                        f"has {has}; e.g. --gpu_spec {count}x{fits[0]} --flex_start, or use "
                        "--spot for cheaper capacity on other hardware")
    if workers is not None and workers.machine != chief:
        raise SpecError(
            "--flex_start needs one machine configuration in every worker pool, but the "
            f"chief runs {_describe(chief)} and the workers {_describe(workers.machine)}; "
            "drop --worker_machine_type and --worker_gpu_spec so the workers match the "
            "chief")


def _describe(machine: MachineSpec) -> str:
    if not machine.accelerator_type:
        return machine.machine_type
    return f"{machine.machine_type} + {machine.accelerator_label}"

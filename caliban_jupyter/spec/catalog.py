"""The dated Vertex AI catalog (``catalog.json``), loaded once and indexed for queries.

The catalog is data, not code: regions, machine types, accelerators, the counts each
machine type takes and where each accelerator is offered. Updating it for a new Google
offering needs no code change. Loading it costs a ``json.load`` of ~12 kB (well under a
millisecond), and happens on first use, not at import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator type. ``short`` is the caliban name (``V100``), ``vertex`` the
    ``AcceleratorType`` enum name (``NVIDIA_TESLA_V100``)."""

    short: str
    kind: str  # "gpu" | "tpu"
    vertex: str
    regions: tuple[str, ...]
    retired: str | None = None
    flex_start: bool = False  # Dynamic Workload Scheduler can queue it (--flex_start)


@dataclass(frozen=True)
class Machine:
    """One machine type. Fixed families carry ``accelerators`` in ``count``; general
    purpose families may accept attachable GPUs (see :meth:`Catalog.accepts`)."""

    name: str
    family: str
    vcpus: int | None
    memory_gb: float | None
    accelerators: tuple[str, ...] = ()
    count: int = 0
    tpu_topology: str | None = None


@dataclass(frozen=True)
class Family:
    name: str
    machines: tuple[str, ...]
    accelerators: tuple[str, ...] = ()
    # short name -> {count: (max vCPUs, max memory GB)} for GPUs attached to the VM
    attach: Mapping[str, Mapping[int, tuple[float, float]]] = field(default_factory=dict)
    regions: tuple[str, ...] | None = None
    note: str | None = None
    workers: bool = True  # a job on this family may have a worker pool (--workers)


class Catalog:
    """An indexed, read-only view of one catalog document."""

    def __init__(self, data: Mapping[str, Any]):
        self.meta: Mapping[str, Any] = data.get("_meta", {})
        self.aliases: dict[str, str] = dict(data.get("aliases", {}))
        self.regions: dict[str, str] = dict(data["regions"])
        self.accelerators: dict[str, Accelerator] = {
            short.upper(): Accelerator(
                short=short.upper(),
                kind=a["kind"],
                vertex=a["vertex"],
                regions=tuple(a.get("regions", ())),
                retired=a.get("retired"),
                flex_start=bool(a.get("flex_start", False)),
            )
            for short, a in data["accelerators"].items()
        }
        self.by_vertex = {a.vertex: a.short for a in self.accelerators.values()}
        self.families: dict[str, Family] = {}
        self.machines: dict[str, Machine] = {}
        for fname, f in data["families"].items():
            accels = tuple(f.get("accelerators", ()))
            for name, row in f["machines"].items():
                row = list(row) + [None] * (4 - len(row))
                self.machines[name] = Machine(
                    name=name,
                    family=fname,
                    vcpus=row[0],
                    memory_gb=row[1],
                    accelerators=accels,
                    count=int(row[2] or 0),
                    tpu_topology=row[3],
                )
            self.families[fname] = Family(
                name=fname,
                machines=tuple(f["machines"]),
                accelerators=accels,
                attach={
                    short: {int(n): (lim[0], lim[1]) for n, lim in counts.items()}
                    for short, counts in f.get("attach", {}).items()
                },
                regions=tuple(f["regions"]) if "regions" in f else None,
                note=f.get("note"),
                workers=bool(f.get("workers", True)),
            )

    # -- single facts ---------------------------------------------------------------

    def canonical_machine(self, name: str) -> str:
        """Lower-cased, alias-resolved spelling (``cloud_tpu`` -> ``cloud-tpu``)."""
        key = name.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self.machines and "_" in key:
            key = key.replace("_", "-")
        return key

    def attach_limits(self, machine: Machine, short: str) -> Mapping[int, tuple[float, float]]:
        return self.families[machine.family].attach.get(short, {})

    def accepts(self, machine: Machine, short: str, count: int) -> bool:
        """Whether Vertex runs ``count`` x ``short`` on ``machine``."""
        if machine.accelerators:
            return short in machine.accelerators and count == machine.count
        limit = self.attach_limits(machine, short).get(count)
        if limit is None:
            return False
        max_cpu, max_mem = limit
        return (machine.vcpus or 0) <= max_cpu and (machine.memory_gb or 0) <= max_mem

    def family_regions(self, family: str) -> tuple[str, ...] | None:
        """Where a family is offered, ``None`` when the catalog does not restrict it.
        A fixed family is where its accelerators are."""
        fam = self.families[family]
        if fam.regions is not None:
            return fam.regions
        if fam.accelerators:
            seen = {r for a in fam.accelerators for r in self.accelerators[a].regions}
            return tuple(r for r in self.regions if r in seen)
        return None

    # -- lists ------------------------------------------------------------------------

    def valid_counts(self, short: str) -> list[int]:
        counts: set[int] = set()
        for m in self.machines.values():
            if m.accelerators:
                if short in m.accelerators:
                    counts.add(m.count)
            else:
                counts.update(n for n in self.attach_limits(m, short) if self.accepts(m, short, n))
        return sorted(counts)

    def machine_types_for(self, short: str, count: int | None = None) -> list[str]:
        counts = self.valid_counts(short) if count is None else [count]
        return [m.name for m in self.machines.values()
                if any(self.accepts(m, short, n) for n in counts)]

    def machine_types(self, region: str | None = None, family: str | None = None) -> list[str]:
        out: list[str] = []
        for fname, fam in self.families.items():
            if family is not None and not (fname == family or fname.startswith(family + "-")):
                continue
            where = self.family_regions(fname)
            if region is not None and where is not None and region not in where:
                continue
            out.extend(fam.machines)
        return out

    def info(self) -> dict[str, Any]:
        return {
            "as_of": self.meta.get("as_of"),
            "compiled": self.meta.get("compiled"),
            "sources": [s["url"] if isinstance(s, Mapping) else s
                        for s in self.meta.get("sources", ())],
            "notes": list(self.meta.get("notes", ())),
        }


_CATALOG: Catalog | None = None


def get_catalog() -> Catalog:
    """The packaged catalog, parsed on first call and cached for the process."""
    global _CATALOG
    if _CATALOG is None:
        with CATALOG_PATH.open(encoding="utf-8") as f:
            _CATALOG = Catalog(json.load(f))
    return _CATALOG


def load_catalog(path: str | Path) -> Catalog:
    """A catalog from another file (a newer copy, or a test fixture); not cached."""
    with Path(path).open(encoding="utf-8") as f:
        return Catalog(json.load(f))

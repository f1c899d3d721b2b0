"""Accelerator specs (``8xV100``, ``4xV5E``) and the hardware a job asks Vertex AI for.

Pure and cheap: everything is decided from the dated catalog (``catalog.json``, see
:mod:`caliban_jupyter.spec.catalog`), loaded once on first use. Every user mistake raises
:class:`~caliban_jupyter.errors.SpecError` saying what is wrong and the nearest valid
choices.

Semantics follow ``caliban cloud``, moved to Vertex AI: GPU mode adds ``1xP100`` unless
told otherwise; a TPU job runs on its TPU VM (no GPU master); a GPU that only comes on
fixed machine types (A100, H100, L4, ...) picks the matching machine type.
"""

from __future__ import annotations

import re

from ..errors import SpecError
from ._suggest import choices, maybe_meant, near_first
from .catalog import Catalog, Machine, get_catalog
from .defaults import DEFAULT_CPU_MACHINE, DEFAULT_GPU_MACHINE, DEFAULT_GPU_SPEC
from .machine import MachineSpec

__all__ = [
    "catalog_info",
    "gpu_types",
    "machine_types",
    "machine_types_for",
    "parse_accelerator_spec",
    "regions",
    "regions_for",
    "resolve_machine",
    "split_accelerator_spec",
    "tpu_types",
    "valid_counts",
]

_SPEC = re.compile(r"^\s*(?P<count>[+-]?\d+)\s*[xX]\s*(?P<type>[A-Za-z0-9_\-]+)\s*$")
_EXAMPLE = {"gpu": "8xV100", "tpu": "8xV3"}


def _flag(kind: str) -> str:
    return f"--{kind}_spec"


def _types(cat: Catalog, kind: str, *, include_retired: bool = True) -> list[str]:
    return [a.short for a in cat.accelerators.values()
            if a.kind == kind and (include_retired or not a.retired)]


def _canonical_type(cat: Catalog, text: str, kind: str | None) -> str:
    """Upper-cased short name for ``text`` (a short name or a Vertex enum name)."""
    key = text.strip().upper().replace("-", "_")
    key = cat.by_vertex.get(key, key)
    acc = cat.accelerators.get(key)
    if acc is not None and (kind is None or acc.kind == kind):
        return key
    if acc is not None and kind is not None:
        # Right name, wrong flag: say which flag takes it.
        counts = cat.valid_counts(key) or [1]
        raise SpecError(f"{key} is a {acc.kind.upper()}, not a {kind.upper()}; pass it with "
                        f"{_flag(acc.kind)}, e.g. {_flag(acc.kind)} {counts[0]}x{key}")
    valid = _types(cat, kind, include_retired=False) if kind else list(cat.accelerators)
    what = f"{kind.upper()} type" if kind else "accelerator type"
    raise SpecError(f"unknown {what} {text.strip()!r}.{maybe_meant(key, valid)} "
                    f"Valid {what}s: {', '.join(valid)}")


def split_accelerator_spec(text: str) -> tuple[int, str] | None:
    """The count and type as written in ``NUMxTYPE`` (syntax only: neither is checked),
    or None when ``text`` is not of that form."""
    m = _SPEC.match(text or "")
    return (int(m["count"]), m["type"]) if m else None


def parse_accelerator_spec(text: str, kind: str, *, catalog: Catalog | None = None,
                           ) -> tuple[int, str]:
    """Parse ``NUMxTYPE`` (``x`` and ``TYPE`` case-insensitive) into ``(count, short)``.

    Parameters
    ----------
    text : str
        The spec, e.g. ``"8xV100"``, ``"1xa100_80gb"`` or ``"4XV5E"``.
    kind : str
        ``"gpu"`` or ``"tpu"``: which flag the spec came from.
    catalog : Catalog, optional
        Another catalog (tests, a newer file); defaults to the packaged one.

    Returns
    -------
    tuple of (int, str)
        The count and the canonical short name (``"V100"``).

    Raises
    ------
    SpecError
        Bad syntax (with the expected form and an example), a count below 1, or an
        unknown type (with "did you mean" and the valid types). Counts are checked
        against machine types by :func:`resolve_machine`, not here.
    """
    if kind not in ("gpu", "tpu"):
        raise ValueError(f"kind must be 'gpu' or 'tpu', not {kind!r}")
    cat = catalog or get_catalog()
    flag, example = _flag(kind), _EXAMPLE[kind]
    split = split_accelerator_spec(text)
    if split is None:
        raise SpecError(f"{flag} {text!r} is not of the form NUMx{kind.upper()}_TYPE; "
                        f"write the count, an 'x', then the type, e.g. {flag} {example}")
    count, written = split
    if count < 1:
        raise SpecError(f"{flag} {text!r}: the count must be 1 or more, e.g. {flag} {example}")
    return count, _canonical_type(cat, written, kind)


# -- queries for front ends (the form widget, --help) -------------------------------


def gpu_types(*, include_retired: bool = False) -> list[str]:
    """GPU short names in catalog order; retired ones (K80) only when asked."""
    return _types(get_catalog(), "gpu", include_retired=include_retired)


def tpu_types() -> list[str]:
    """TPU short names (``V2``, ``V3``, ``V4``, ``V5E``)."""
    return _types(get_catalog(), "tpu")


def valid_counts(short_name: str) -> list[int]:
    """Counts of ``short_name`` some machine type takes, ascending (V100: 1, 2, 4, 8)."""
    cat = get_catalog()
    return cat.valid_counts(_canonical_type(cat, short_name, None))


def machine_types_for(short_name: str, count: int | None = None) -> list[str]:
    """Machine types that take ``count`` x ``short_name`` (any count when omitted)."""
    cat = get_catalog()
    return cat.machine_types_for(_canonical_type(cat, short_name, None), count)


def regions_for(short_name: str) -> list[str]:
    """Regions where Vertex AI custom training offers ``short_name``."""
    cat = get_catalog()
    return list(cat.accelerators[_canonical_type(cat, short_name, None)].regions)


def regions() -> list[str]:
    """Every Vertex AI region in the catalog."""
    return list(get_catalog().regions)


def machine_types(region: str | None = None, family: str | None = None) -> list[str]:
    """Machine types, optionally only those offered in ``region`` and/or of ``family``
    (``"a2"`` matches every a2-* family)."""
    return get_catalog().machine_types(region=region, family=family)


def catalog_info() -> dict[str, object]:
    """The catalog's date and sources: ``{"as_of", "compiled", "sources", "notes"}``."""
    return get_catalog().info()


# -- resolution -----------------------------------------------------------------------


def resolve_machine(
    *,
    gpu_spec: str | None,
    tpu_spec: str | None,
    machine_type: str | None,
    region: str,
    gpu_mode: bool,
    force: bool = False,
    catalog: Catalog | None = None,
) -> MachineSpec:
    """Decide and validate the hardware of one worker.

    Parameters
    ----------
    gpu_spec, tpu_spec : str or None
        ``NUMxTYPE`` from ``--gpu_spec`` / ``--tpu_spec``; at most one.
    machine_type : str or None
        ``--machine_type``; ``cloud_tpu`` is accepted for ``cloud-tpu``. When omitted:
        ``n1-standard-8`` for GPUs that attach to N1, the matching fixed machine type
        for the others (``4xA100`` -> ``a2-highgpu-4g``), the TPU VM type for TPUs and
        ``n1-highcpu-32`` for CPU-only jobs.
    region : str
        The Vertex AI region the job is submitted to.
    gpu_mode : bool
        ``False`` with ``--nogpu``. In GPU mode with no spec the GPU is ``1xP100``,
        or the one a fixed machine type carries (``--machine_type a2-highgpu-2g``).
    force : bool
        Skip the checks that rely on the catalog knowing everything Google offers:
        counts, whether the machine type and region exist, machine type / accelerator
        combinations (including N1 vCPU and memory limits) and regional availability.
        Never skipped: spec syntax, the accelerator type (it must map to a Vertex enum)
        and conflicting flags.

    Returns
    -------
    MachineSpec
        Canonical machine type, Vertex enum name, count, and ``tpu_topology`` where
        Vertex requires one.

    Raises
    ------
    SpecError
        On any invalid input; the message names the problem and the nearest valid
        choices.
    """
    cat = catalog or get_catalog()
    gpu_spec, tpu_spec = (s.strip() if s else None for s in (gpu_spec, tpu_spec))
    gpu = parse_accelerator_spec(gpu_spec, "gpu", catalog=cat) if gpu_spec else None
    tpu = parse_accelerator_spec(tpu_spec, "tpu", catalog=cat) if tpu_spec else None
    if gpu and not gpu_mode:
        raise SpecError(f"--gpu_spec {gpu_spec} conflicts with --nogpu; drop --nogpu to run "
                        "on GPUs, or drop --gpu_spec for a CPU-only job")
    if gpu and tpu:
        raise SpecError(f"--gpu_spec {gpu_spec} and --tpu_spec {tpu_spec} cannot be combined: "
                        "on Vertex AI a TPU job runs on the TPU VM itself (AI Platform's GPU "
                        "master + TPU worker layout is gone); drop one of the two flags")

    mt = cat.canonical_machine(machine_type) if machine_type and machine_type.strip() else None
    machine = cat.machines.get(mt) if mt else None
    if mt and machine is None and not force:
        raise SpecError(f"unknown machine type {machine_type!r}."
                        f"{maybe_meant(mt, cat.machines)} Machine types: "
                        f"{choices(list(cat.machines), limit=15)}; "
                        "pass --force if Google offers it but this catalog "
                        f"({cat.meta.get('as_of', 'undated')}) does not know it yet")
    reg = (region or "").strip().lower()
    if not reg:
        raise SpecError("no region given; pass --region, e.g. --region us-central1")
    if reg not in cat.regions and not force:
        raise SpecError(f"unknown region {region!r}.{maybe_meant(reg, cat.regions)} "
                        f"Vertex AI regions: {', '.join(cat.regions)}")

    accel, origin = gpu or tpu, "flag"
    if accel is None and machine is not None and machine.accelerators:
        accel, origin = _from_machine(cat, machine, gpu_mode), "machine"
    if accel is None and gpu_mode:
        accel, origin = parse_accelerator_spec(DEFAULT_GPU_SPEC, "gpu", catalog=cat), "default"

    if accel is None:
        mt = mt or DEFAULT_CPU_MACHINE
        if not force:
            _check_region(cat, reg, cat.machines[mt], None)
        return MachineSpec(machine_type=mt)

    count, short = accel
    acc = cat.accelerators[short]
    spec = f"{count}x{short}"
    note = (f" ({spec} is the default GPU spec, used because --nogpu was not given: pass "
            "--nogpu for a CPU-only job)") if origin == "default" else ""
    if acc.retired and not force:
        raise SpecError(f"{short} is no longer offered: {acc.retired}")
    if not force:
        counts = cat.valid_counts(short)
        if count not in counts:
            raise SpecError(f"{spec}: Vertex AI offers {short} in counts "
                            f"{', '.join(map(str, counts))} only, not {count}; "
                            f"e.g. {_flag(acc.kind)} {_nearest(count, counts)}x{short}")
    if mt is None:
        mt = _pick_machine(cat, short, count, acc.kind)
        machine = cat.machines[mt]
    if not force:
        assert machine is not None
        _check_combination(cat, machine, short, count, note)
        _check_region(cat, reg, machine, short)
    topology = machine.tpu_topology if machine is not None else None
    return MachineSpec(machine_type=mt, accelerator_type=acc.vertex, accelerator_count=count,
                       tpu_topology=topology)


def _nearest(count: int, counts: list[int]) -> int:
    return min(counts, key=lambda n: (abs(n - count), n))


def _from_machine(cat: Catalog, machine: Machine, gpu_mode: bool) -> tuple[int, str]:
    """The accelerator a fixed machine type carries, when no spec names one."""
    kinds = {cat.accelerators[a].kind for a in machine.accelerators}
    if "gpu" in kinds and not gpu_mode:
        short = machine.accelerators[0]
        raise SpecError(f"{machine.name} comes with {machine.count} x {short} GPU(s), which "
                        f"--nogpu rules out; drop --nogpu (and add --gpu_spec "
                        f"{machine.count}x{short}), or pick a CPU machine type such as "
                        f"{DEFAULT_CPU_MACHINE}")
    if len(machine.accelerators) > 1:
        kind = kinds.pop()
        options = " or ".join(f"{_flag(kind)} {machine.count}x{a}" for a in machine.accelerators)
        raise SpecError(f"{machine.name} hosts {' or '.join(machine.accelerators)}; say which "
                        f"with {options}")
    return machine.count, machine.accelerators[0]


def _pick_machine(cat: Catalog, short: str, count: int, kind: str) -> str:
    candidates = cat.machine_types_for(short, count)
    if kind == "gpu" and DEFAULT_GPU_MACHINE in candidates:
        return DEFAULT_GPU_MACHINE
    if candidates:
        return candidates[0]
    # Only reachable with --force and a count no machine type in the catalog takes.
    raise SpecError(f"no machine type in the catalog takes {count}x{short}; pass "
                    "--machine_type explicitly (with --force, it is used as given)")


def _check_combination(cat: Catalog, machine: Machine, short: str, count: int,
                       note: str) -> None:
    if cat.accepts(machine, short, count):
        return
    spec = f"{count}x{short}"
    fits = cat.machine_types_for(short, count)
    alternatives = f"machine types that take {spec}: {choices(fits)}"
    if machine.accelerators:
        carried = "/".join(machine.accelerators)
        if short in machine.accelerators:
            why = f"{machine.name} comes with exactly {machine.count} x {short}, not {count}"
        else:
            why = f"{machine.name} comes with {machine.count} x {carried}; it cannot take {short}"
    elif cat.attach_limits(machine, short):
        limit = cat.attach_limits(machine, short).get(count)
        assert limit is not None  # counts were checked against every machine already
        larger = [n for n, (c, g) in sorted(cat.attach_limits(machine, short).items())
                  if (machine.vcpus or 0) <= c and (machine.memory_gb or 0) <= g]
        why = (f"{machine.name} has {machine.vcpus} vCPUs and {machine.memory_gb:g} GB, but "
               f"a VM with {spec} may have at most {limit[0]:g} vCPUs and {limit[1]:g} GB")
        if larger:
            why += f"; {machine.name} takes {' or '.join(map(str, larger))} x {short}"
    elif cat.accelerators[short].kind == "tpu":
        why = (f"{machine.name} cannot host TPU {short}: on Vertex AI a TPU job runs on its "
               "TPU VM")
    else:
        why = f"{machine.name} takes no {short} GPU"
    hint = ""
    if fits:
        auto = _pick_machine(cat, short, count, cat.accelerators[short].kind)
        hint = f"; or drop --machine_type to get {auto}"
    raise SpecError(f"{why}{note}. Use one of the {alternatives}{hint}")


def _check_region(cat: Catalog, region: str, machine: Machine, short: str | None) -> None:
    if short is not None:
        acc = cat.accelerators[short]
        if region not in acc.regions:
            where = near_first(region, acc.regions)
            raise SpecError(f"{short} is not offered in {region} for Vertex AI training; "
                            f"regions with {short}: {choices(where)}; "
                            f"e.g. --region {where[0]}")
    where_family = cat.family_regions(machine.family)
    if where_family is not None and region not in where_family:
        near = near_first(region, where_family)
        raise SpecError(f"{machine.name} ({machine.family} family) is not offered in {region}; "
                        f"regions with {machine.family}: {choices(near)}; "
                        f"e.g. --region {near[0]}, or pick another machine type")

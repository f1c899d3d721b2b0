"""A submission form's choices, derived from the accelerator catalog (pure).

The widget form and the JupyterLab dialog (through the server's ``GET catalog``) both ask
these functions. Each answers "what may the user pick here, given what is already
picked", so a form's dropdowns follow each other: an accelerator offers only its counts, machine
types and regions; a region hides the accelerators and machine types it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..errors import SpecError
from . import accelerators as acc
from .catalog import get_catalog

__all__ = [
    "KINDS",
    "accelerator_options",
    "count_options",
    "keep_current",
    "machine_options",
    "region_options",
]

#: The accelerator kinds offered by the form: label -> kind.
KINDS = ("GPU", "TPU", "none")

T = TypeVar("T")


def accelerator_options(kind: str, region: str | None) -> tuple[list[str], list[str]]:
    """``(offered, hidden)``: the ``kind`` types offered in ``region``, and the others."""
    if kind == "GPU":
        types = acc.gpu_types()
    elif kind == "TPU":
        types = acc.tpu_types()
    else:
        return [], []
    if not region:
        return types, []
    offered = [t for t in types if region in acc.regions_for(t)]
    return offered, [t for t in types if t not in offered]


def count_options(short: str | None) -> list[int]:
    """The counts some machine type takes of ``short`` (V100: 1, 2, 4, 8)."""
    try:
        return acc.valid_counts(short) if short else []
    except SpecError:  # an unknown type prefilled from a command line: plan explains it
        return []


def machine_options(kind: str, short: str | None, count: int | None,
                    region: str | None) -> list[str]:
    """Machine types that take ``count`` x ``short`` and exist in ``region``.

    Without an accelerator: the machine types that carry none (a fixed-GPU machine such
    as a2-highgpu-1g would contradict a CPU-only job).
    """
    in_region = acc.machine_types(region=region) if region else acc.machine_types()
    if kind in ("GPU", "TPU") and short:
        try:
            allowed = set(acc.machine_types_for(short, count))
        except SpecError:
            return []
        return [m for m in in_region if m in allowed]
    machines = get_catalog().machines
    return [m for m in in_region if not machines[m].accelerators]


def region_options(kind: str, short: str | None) -> list[str]:
    """Regions offering ``short`` (every region without an accelerator)."""
    if kind in ("GPU", "TPU") and short:
        try:
            return acc.regions_for(short)
        except SpecError:
            pass
    return acc.regions()


def keep_current(options: Sequence[T], current: T | None, note: str = "not offered"
                 ) -> list[tuple[str, T]]:
    """Dropdown options ``(label, value)``; a current value no longer offered stays, marked.

    Keeping it (rather than silently picking another) lets the form explain what is wrong
    with it, and keeps prefilled values from a command line visible.
    """
    out = [(str(o), o) for o in options]
    if current is not None and current != "" and current not in options:
        out.insert(0, (f"{current} ✗ {note}", current))
    return out

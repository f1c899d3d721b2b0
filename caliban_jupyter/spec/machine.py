"""A worker's hardware: machine type and accelerators, in Vertex's JSON form (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MachineSpec:
    """A worker's hardware. ``accelerator_type`` is the Vertex enum name
    (``NVIDIA_TESLA_P100``, ``TPU_V5_LITEPOD``...) or ``None`` for CPU only."""

    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = 0
    tpu_topology: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"machineType": self.machine_type}
        if self.accelerator_type:
            out["acceleratorType"] = self.accelerator_type
            out["acceleratorCount"] = self.accelerator_count
        if self.tpu_topology:
            out["tpuTopology"] = self.tpu_topology
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MachineSpec:
        """Inverse of :meth:`to_json` (accepts int64 counts sent as strings)."""
        return cls(
            machine_type=str(data.get("machineType", "")),
            accelerator_type=data.get("acceleratorType") or None,
            accelerator_count=int(data.get("acceleratorCount") or 0),
            tpu_topology=data.get("tpuTopology") or None,
        )

    @property
    def accelerator_label(self) -> str:
        """Human form, e.g. ``2 x NVIDIA_TESLA_V100`` or ``none``."""
        if not self.accelerator_type:
            return "none"
        return f"{self.accelerator_count} x {self.accelerator_type}"

"""The dated price table (``prices.json``): hourly list prices per region, machine type and
accelerator, on demand and Spot, each with the URL it was read from and when.

Data, not code, like the catalog: a figure no source gave is not in the table, and the
table says on purpose which families and accelerators have no price (``unknown``). A
missing figure is a message ("no price known for X in REGION (prices as of DATE)"),
never a zero. Loaded on first use (~20 kB of JSON), not at import.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PRICES_PATH", "STALE_DAYS", "Price", "PriceTable", "get_prices", "load_prices",
           "stale_warning_once"]

PRICES_PATH = Path(__file__).with_name("prices.json")
#: A table older than this many days warns (once per session) that it needs refreshing.
STALE_DAYS = 180
#: Scheduling strategy (``jobSpec.scheduling.strategy``, or ``on-demand``) -> table key.
_KEYS = {"on-demand": "on_demand", "SPOT": "spot"}
_NAMES = {"on-demand": "on-demand", "SPOT": "Spot", "FLEX_START": "flex-start"}


@dataclass(frozen=True)
class Price:
    """One figure: USD per hour of one machine (without its accelerators) or of one
    accelerator. ``basis`` is ``vertex`` (Vertex AI's custom-training rate) or
    ``compute-engine`` (the Compute Engine list price of the same resource)."""

    usd_per_hour: float
    basis: str
    source: str
    read: str

    def to_json(self) -> dict[str, Any]:
        return {"usd_per_hour": self.usd_per_hour, "basis": self.basis,
                "source": self.source, "read": self.read}


class PriceTable:
    """A read-only view of one price document."""

    def __init__(self, data: Mapping[str, Any]):
        self.meta: Mapping[str, Any] = data.get("_meta", {})
        self.as_of: str = str(self.meta.get("as_of", "undated"))
        self.regions: Mapping[str, Any] = data.get("regions", {})
        unknown = data.get("unknown", {})
        self.unknown_families: Mapping[str, str] = unknown.get("families", {})
        self.unknown_accelerators: Mapping[str, str] = unknown.get("accelerators", {})

    def _figure(self, region: str, kind: str, name: str, strategy: str) -> Price | None:
        key = _KEYS.get(strategy)
        entry = (self.regions.get(region, {}).get(kind, {}).get(name) or {})
        fig = entry.get(key) if key else None
        if not fig:
            return None
        return Price(usd_per_hour=float(fig["usd_per_hour"]), basis=fig["basis"],
                     source=fig["source"], read=fig["read"])

    def machine(self, region: str, machine_type: str, strategy: str = "on-demand"
                ) -> Price | None:
        """USD/hour of ``machine_type`` (without accelerators), or ``None`` if unknown."""
        return self._figure(region, "machines", machine_type, strategy)

    def accelerator(self, region: str, short: str, strategy: str = "on-demand"
                    ) -> Price | None:
        """USD/hour of one ``short`` accelerator (``A100``), or ``None`` if unknown."""
        return self._figure(region, "accelerators", short, strategy)

    def has(self, region: str, kind: str, name: str) -> bool:
        """Whether any figure (on demand or Spot) is known for ``name`` in ``region``."""
        return bool(self.regions.get(region, {}).get(kind, {}).get(name))

    def missing(self, name: str, region: str, strategy: str = "on-demand") -> str:
        """The message for a figure the table does not have."""
        what = "" if strategy == "on-demand" else f"{_NAMES.get(strategy, strategy)} "
        return f"no {what}price known for {name} in {region} (prices as of {self.as_of})"

    def age_days(self, today: _dt.date) -> int | None:
        try:
            return (today - _dt.date.fromisoformat(self.as_of)).days
        except ValueError:
            return None

    def stale_warning(self, today: _dt.date) -> str | None:
        """Says how to refresh a table over :data:`STALE_DAYS` days old; else ``None``."""
        age = self.age_days(today)
        if age is None or age <= STALE_DAYS:
            return None
        return (f"the price table is {age} days old (prices as of {self.as_of}): cost "
                "estimates may be out of date. Refresh caliban_jupyter/spec/prices.json from "
                "Vertex AI's pricing page (each figure with its source URL and read date, "
                "then its as_of), or upgrade caliban-jupyter")


_WARNED = False


def stale_warning_once(table: PriceTable, today: _dt.date) -> str | None:
    """:meth:`PriceTable.stale_warning`, the first time this process asks; then ``None``
    (one warning per session, not one per dry run)."""
    global _WARNED
    warning = table.stale_warning(today)
    if warning is None or _WARNED:
        return None
    _WARNED = True
    return warning


_PRICES: PriceTable | None = None


def get_prices() -> PriceTable:
    """The packaged price table, parsed on first call and cached for the process."""
    global _PRICES
    if _PRICES is None:
        _PRICES = load_prices(PRICES_PATH)
    return _PRICES


def load_prices(path: str | Path) -> PriceTable:
    """A price table from another file (a newer copy, or a test fixture); not cached."""
    with Path(path).open(encoding="utf-8") as f:
        return PriceTable(json.load(f))

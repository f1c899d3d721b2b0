"""What a sweep would cost before it is submitted, and what its jobs cost so far. Pure.

Vertex's billing rules, as its pages state them (sources in ``prices.json``):

* every replica of every worker pool is a machine billed for its run time, plus its
  accelerators (a machine figure excludes them);
* "You pay only for compute hours used; if training fails for any reason other than a
  user-initiated cancellation, you are not billed for the time. You are charged for
  training time if you cancel the operation." (https://cloud.google.com/vertex-ai/pricing);
* Spot: "you're billed by job duration and machine type. You don't pay for the time that
  the job is in a queue or preempted."
  (https://cloud.google.com/vertex-ai/docs/predictions/use-spot-vms);
* flex-start: no rate was found; its figures are unknown;
* granularity: no source states it; run time counts to the second (our choice).

Every figure is an estimate from list prices; a missing one makes the total unknown (with
"no price known for X in REGION (prices as of DATE)"), never zero.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from .catalog import Catalog, get_catalog
from .prices import Price, PriceTable, get_prices, stale_warning_once

__all__ = ["BILLING_NOTES", "Estimate", "JobRate", "Option", "Part", "cost_so_far",
           "group_cost", "job_rate", "parse_amount", "strategy_of", "sweep_estimate", "usd"]

ON_DEMAND, SPOT, FLEX_START = "on-demand", "SPOT", "FLEX_START"
BILLING_NOTES = (
    "every replica of every worker pool is billed: machine plus accelerators",
    "a job that fails on its own is not billed; a cancelled one is billed for its run time",
)
SPOT_NOTE = ("Spot prices change (up to once a day, https://cloud.google.com/spot-vms/pricing): "
             "each Spot figure is the one of its read date")
_ROUND = 6
_BASIS = {"vertex": "Vertex AI rate", "compute-engine": "Compute Engine list price"}
_STRATEGY_NAMES = {ON_DEMAND: "on-demand", SPOT: "Spot", FLEX_START: "flex-start"}


def usd(amount: float | None) -> str:
    """``12.3456`` -> ``"$12.35"`` (cents; fractions of a cent shown as ``<$0.01``)."""
    if amount is None:
        return "unknown"
    if 0 < amount < 0.005:
        return "<$0.01"
    return f"${amount:,.2f}"


def parse_amount(value: Any, flag: str = "--max_cost") -> float:
    """A positive amount of US dollars: ``50``, ``"12.5"``, ``"$1,000"``.

    Raises
    ------
    SpecError
        Anything else (text, zero, a negative or infinite amount, true/false).
    """
    text = "" if isinstance(value, bool) else str(value).strip().lstrip("$").replace(",", "")
    try:
        amount = float(text)
    except ValueError:
        amount = float("nan")
    if not (0 < amount < float("inf")):
        raise SpecError(f"{flag} {value!r} is not a positive amount of US dollars; give one "
                        "such as 50 or 12.5 (e.g. --max_cost 50)")
    return amount


def strategy_of(body: Mapping[str, Any]) -> str:
    """``SPOT``, ``FLEX_START`` or ``on-demand`` from a CustomJob body."""
    strategy = ((body.get("jobSpec") or {}).get("scheduling") or {}).get("strategy")
    return strategy if strategy in (SPOT, FLEX_START) else ON_DEMAND


@dataclass(frozen=True)
class Part:
    """One figure of a job's rate: a pool's machines or its accelerators."""

    pool: int
    kind: str  # "machine" | "accelerator"
    name: str
    replicas: int
    count: int
    price: Price

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour * self.count * self.replicas

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool, "kind": self.kind, "name": self.name,
                "replicas": self.replicas, "count": self.count,
                "unit_usd_per_hour": self.price.usd_per_hour,
                "usd_per_hour": round(self.usd_per_hour, _ROUND), "basis": self.price.basis,
                "source": self.price.source, "read": self.price.read}

    def describe(self) -> str:
        times = f"{self.count} x " if self.count != 1 else ""
        per = f" x {self.replicas} replicas" if self.replicas != 1 else ""
        return (f"{times}{self.name} ${self.price.usd_per_hour}/h{per}: "
                f"{_BASIS.get(self.price.basis, self.price.basis)}, {self.price.source} "
                f"(read {self.price.read})")


@dataclass(frozen=True)
class JobRate:
    """One job's hourly rate under one strategy: its parts, or what is unknown."""

    strategy: str
    parts: tuple[Part, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def usd_per_hour(self) -> float | None:
        if self.unknown:
            return None
        return sum(p.usd_per_hour for p in self.parts)


def _pools(body: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any], int]]:
    pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or []
    out = []
    for i, pool in enumerate(pools):
        if not pool:  # an empty pool keeps an index place (Vertex's reduction-server form)
            continue
        replicas = int(pool.get("replicaCount") or 1)
        out.append((i, pool.get("machineSpec") or {}, replicas))
    return out


def job_rate(body: Mapping[str, Any], region: str, strategy: str | None = None, *,
             table: PriceTable | None = None, catalog: Catalog | None = None) -> JobRate:
    """The hourly rate of the job ``body`` (a CustomJob request) in ``region``, under
    ``strategy`` (default: the body's own scheduling strategy)."""
    table = table or get_prices()
    cat = catalog or get_catalog()
    strategy = strategy or strategy_of(body)
    parts: list[Part] = []
    unknown: list[str] = []

    def add(pool: int, kind: str, name: str, replicas: int, count: int) -> None:
        price = (table.machine if kind == "machine" else table.accelerator)(
            region, name, strategy)
        if price is None:
            message = table.missing(name, region, strategy)
            if message not in unknown:
                unknown.append(message)
        else:
            parts.append(Part(pool, kind, name, replicas, count, price))

    for i, machine, replicas in _pools(body):
        add(i, "machine", str(machine.get("machineType", "")), replicas, 1)
        vertex = machine.get("acceleratorType")
        if vertex:
            short = cat.by_vertex.get(vertex, vertex)
            add(i, "accelerator", short, replicas, int(machine.get("acceleratorCount") or 0))
    return JobRate(strategy=strategy, parts=tuple(parts), unknown=tuple(unknown))


@dataclass(frozen=True)
class Option:
    """A sweep priced under one strategy: one rate per job."""

    strategy: str
    rates: tuple[JobRate, ...]
    timeout: int | None = None

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for r in self.rates for m in r.unknown))

    @property
    def job_usd_per_hour(self) -> float | None:
        """The dearest job's rate (the jobs of one sweep share their hardware)."""
        values = [r.usd_per_hour for r in self.rates]
        if not values or any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)

    @property
    def sweep_usd_per_hour(self) -> float | None:
        values = [r.usd_per_hour for r in self.rates]
        if any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def max_usd(self) -> float | None:
        rate = self.sweep_usd_per_hour
        if rate is None or self.timeout is None:
            return None
        return rate * self.timeout / 3600

    def summary(self, jobs: int) -> str:
        """``on-demand: $29.39/h per job, $58.77/h for all 2 at once, at most $58.77 with
        the timeout``, or what is unknown."""
        name = _STRATEGY_NAMES.get(self.strategy, self.strategy)
        if self.unknown:
            return f"{name}: " + "; ".join(self.unknown)
        text = f"{name}: {usd(self.job_usd_per_hour)}/h per job"
        if jobs != 1:
            text += f", {usd(self.sweep_usd_per_hour)}/h for all {jobs} at once"
        if self.max_usd is not None:
            text += f", at most {usd(self.max_usd)} with the timeout"
        return text

    def to_json(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, _ROUND)

        parts = self.rates[0].parts if self.rates else ()
        return {"strategy": self.strategy, "job_usd_per_hour": r(self.job_usd_per_hour),
                "sweep_usd_per_hour": r(self.sweep_usd_per_hour), "max_usd": r(self.max_usd),
                "unknown": list(self.unknown), "parts": [p.to_json() for p in parts]}


@dataclass(frozen=True)
class Estimate:
    """What a planned sweep would cost: the chosen strategy, or on demand and Spot side by
    side when none was chosen. See docs/cost-json.md for its JSON form."""

    region: str
    jobs: int
    as_of: str
    chosen: str | None
    options: tuple[Option, ...]
    timeout: int | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=BILLING_NOTES)

    @property
    def billed(self) -> Option:
        """The option the jobs will run under (on demand when nothing was chosen)."""
        want = self.chosen or ON_DEMAND
        return next((o for o in self.options if o.strategy == want), self.options[0])

    def guard_figure(self) -> tuple[float | None, str]:
        """What ``max_cost`` is compared with: the most the sweep can cost with a timeout,
        else its hourly rate; and how to say it."""
        option = self.billed
        if self.timeout is not None:
            return option.max_usd, (f"at most {usd(option.max_usd)} ({self.jobs} job(s), "
                                    f"{usd(option.sweep_usd_per_hour)}/h, timeout)")
        return option.sweep_usd_per_hour, (f"{usd(option.sweep_usd_per_hour)} per hour "
                                           f"({self.jobs} job(s), no --timeout)")

    def to_json(self) -> dict[str, Any]:
        return {"currency": "USD", "estimate": "list prices", "prices_as_of": self.as_of,
                "region": self.region, "jobs": self.jobs, "timeout_seconds": self.timeout,
                "chosen": self.chosen, "options": [o.to_json() for o in self.options],
                "notes": list(self.notes), "warnings": list(self.warnings)}

    def lines(self) -> list[str]:
        """The dry run's text: one line per option, then the figures used."""
        out = [f"Cost (estimate from list prices as of {self.as_of}, {self.region}; USD):"]
        for o in self.options:
            out.append(f"  {o.summary(self.jobs)}")
            if o.unknown:
                continue
            for part in (o.rates[0].parts if o.rates else ()):
                out.append(f"    {part.describe()}")
        out += [f"  {n}" for n in self.notes]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def sweep_estimate(bodies: Sequence[Mapping[str, Any]], region: str, *,
                   chosen: str | None = None, timeout: int | None = None,
                   table: PriceTable | None = None, catalog: Catalog | None = None,
                   today: _dt.date | None = None) -> Estimate:
    """The estimate of the jobs ``bodies`` (CustomJob requests) in ``region``.

    ``chosen`` is the strategy the user picked (``SPOT``, ``FLEX_START``, or
    ``on-demand`` when a front end says so explicitly); ``None`` shows on demand and Spot
    side by side. ``timeout`` (seconds) bounds each job's run time.
    """
    table = table or get_prices()
    strategies = (chosen,) if chosen else (ON_DEMAND, SPOT)
    options = tuple(
        Option(strategy=s, timeout=timeout,
               rates=tuple(job_rate(b, region, s, table=table, catalog=catalog)
                           for b in bodies))
        for s in strategies)
    warning = stale_warning_once(table, today or _dt.date.today())
    notes = BILLING_NOTES + ((SPOT_NOTE,) if SPOT in strategies else ())
    return Estimate(region=region, jobs=len(bodies), as_of=table.as_of, chosen=chosen,
                    options=options, timeout=timeout, notes=notes,
                    warnings=(warning,) if warning else ())


# -- after submission -----------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def _time(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        value = _dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def cost_so_far(record: Mapping[str, Any], now: _dt.datetime | None = None, *,
                table: PriceTable | None = None, catalog: Catalog | None = None
                ) -> dict[str, Any]:
    """A job's estimated cost so far, by Vertex's billing rules, from its record's JSON
    form: ``{"usd", "seconds", "billed", "why", "unknown"}``.

    Run time is from ``started`` to ``ended`` (or ``now`` while it runs); queued time is
    not billed. A job that failed on its own is not billed (``usd`` 0, ``billed`` false);
    a cancelled one is. ``usd`` is ``None`` when a price is unknown.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    state = str(record.get("state") or "")
    started, ended = _time(record.get("started")), _time(record.get("ended"))
    seconds = 0
    if started is not None:
        end = ended or (None if state in _DONE else now)
        seconds = max(0, int(((end or started) - started).total_seconds()))
    if state == "FAILED":
        return {"usd": 0.0, "seconds": seconds, "billed": False, "unknown": [],
                "why": "failed on its own: Vertex does not bill it"}
    if started is None:
        return {"usd": 0.0, "seconds": 0, "billed": False, "unknown": [],
                "why": "has not run: queued time is not billed"}
    request = record.get("request") or {}
    rate = job_rate(request, str(record.get("region") or ""), table=table, catalog=catalog)
    total = rate.usd_per_hour
    why = "cancelled: billed for its run time" if state in ("CANCELLED", "CANCELLING") \
        else "run time x rate"
    return {"usd": None if total is None else round(total * seconds / 3600, _ROUND),
            "seconds": seconds, "billed": True, "unknown": list(rate.unknown), "why": why}


_DONE = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "PAUSED", "EXPIRED",
                   "PARTIALLY_SUCCEEDED"})


def group_cost(records: Iterable[Mapping[str, Any]], now: _dt.datetime | None = None, *,
               table: PriceTable | None = None) -> dict[str, Any]:
    """The total of :func:`cost_so_far` over ``records`` (pass every attempt: each one
    ran, and is billed by the same rules): ``{"usd", "unknown", "jobs"}``; ``usd`` is
    ``None`` when any billed job's price is unknown."""
    total: float | None = 0.0
    unknown: dict[str, None] = {}
    n = 0
    for record in records:
        n += 1
        cost = cost_so_far(record, now, table=table)
        unknown.update(dict.fromkeys(cost["unknown"]))
        if cost["usd"] is None:
            total = None
        elif total is not None:
            total += cost["usd"]
    return {"usd": None if total is None else round(total, _ROUND), "unknown": list(unknown),
            "jobs": n}

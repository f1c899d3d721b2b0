"""The price table against the catalog, and the cost estimate's billing rules (pure)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from caliban_jupyter.spec import prices as prices_mod
from caliban_jupyter.spec.accelerators import resolve_machine
from caliban_jupyter.spec.catalog import get_catalog
from caliban_jupyter.spec.cost import cost_so_far, group_cost, job_rate, sweep_estimate
from caliban_jupyter.spec.jobs import JobSpec
from caliban_jupyter.spec.prices import PRICES_PATH, PriceTable, get_prices
from caliban_jupyter.spec.runtime import RuntimeFlags, resolve_runtime

URL = re.compile(r"^https://\S+$")


def _body(gpu_spec=None, machine_type=None, region="us-central1", nogpu=False, **flags):
    machine = resolve_machine(gpu_spec=gpu_spec, tpu_spec=None, machine_type=machine_type,
                              region=region, gpu_mode=not nogpu)
    runtime = resolve_runtime(RuntimeFlags(**flags), chief=machine, region=region) \
        if flags else None
    return JobSpec(display_name="j_1", index=1, region=region, image_uri="img", args=(),
                   labels={}, machine=machine, runtime=runtime).to_custom_job()


def test_every_offered_machine_and_accelerator_is_priced_or_unknown_on_purpose():
    cat, table = get_catalog(), get_prices()
    missing = []
    for region in cat.regions:
        for name in cat.machine_types(region=region):
            family = cat.machines[name].family
            if not table.has(region, "machines", name) and family not in table.unknown_families:
                missing.append(f"{name} ({family}) in {region}")
        for short, acc in cat.accelerators.items():
            if region in acc.regions and not table.has(region, "accelerators", short) \
                    and short not in table.unknown_accelerators:
                missing.append(f"{short} in {region}")
    assert not missing, "neither priced nor listed under unknown: " + ", ".join(missing)


def test_every_figure_names_its_source_and_date_and_the_table_knows_its_names():
    cat, data = get_catalog(), json.loads(PRICES_PATH.read_text())
    dt.date.fromisoformat(data["_meta"]["as_of"])
    assert set(data["unknown"]["families"]) <= set(cat.families)
    assert set(data["unknown"]["accelerators"]) <= set(cat.accelerators)
    for region, kinds in data["regions"].items():
        assert region in cat.regions
        for kind, entries in kinds.items():
            known = cat.machines if kind == "machines" else cat.accelerators
            for name, figures in entries.items():
                assert name in known, name
                for key, fig in figures.items():
                    assert key in ("on_demand", "spot")
                    assert fig["usd_per_hour"] > 0
                    assert fig["basis"] in ("vertex", "compute-engine")
                    assert URL.match(fig["source"]), fig["source"]
                    dt.date.fromisoformat(fig["read"])


def test_8xa100_in_us_central1_prices_machine_and_gpus_with_source_and_date():
    body = _body(gpu_spec="8xA100")
    rate = job_rate(body, "us-central1")
    assert [(p.kind, p.name, p.count) for p in rate.parts] == [
        ("machine", "a2-highgpu-8g", 1), ("accelerator", "A100", 8)]
    table = get_prices()
    expected = (table.machine("us-central1", "a2-highgpu-8g").usd_per_hour
                + 8 * table.accelerator("us-central1", "A100").usd_per_hour)
    assert rate.usd_per_hour == pytest.approx(expected)
    spot = job_rate(_body(gpu_spec="8xA100", spot=True), "us-central1")
    assert spot.strategy == "SPOT"
    assert spot.usd_per_hour == pytest.approx(
        table.machine("us-central1", "a2-highgpu-8g", "SPOT").usd_per_hour
        + 8 * table.accelerator("us-central1", "A100", "SPOT").usd_per_hour)
    assert spot.usd_per_hour < rate.usd_per_hour


def test_unknown_price_is_a_message_never_a_zero():
    table = get_prices()
    rate = job_rate(_body(gpu_spec="8xH100"), "us-central1")
    assert rate.usd_per_hour is None
    assert f"no price known for a3-highgpu-8g in us-central1 (prices as of {table.as_of})" \
        in rate.unknown
    assert f"no price known for H100 in us-central1 (prices as of {table.as_of})" \
        in rate.unknown
    estimate = sweep_estimate([_body(gpu_spec="8xH100")] * 2, "us-central1", timeout=3600)
    option = estimate.to_json()["options"][0]
    assert option["job_usd_per_hour"] is None and option["max_usd"] is None
    assert "no price known for H100" in "\n".join(estimate.lines())
    # An unknown region, too.
    assert job_rate(_body(gpu_spec="8xA100"), "mars-north1").unknown[0].startswith(
        "no price known for a2-highgpu-8g in mars-north1")


def test_flex_start_has_no_figure_and_says_so():
    rate = job_rate(_body(gpu_spec="8xA100"), "us-central1", "FLEX_START")
    assert rate.usd_per_hour is None
    assert rate.unknown[0].startswith("no flex-start price known for a2-highgpu-8g")


def test_workers_are_billed_per_replica():
    one = job_rate(_body(gpu_spec="8xA100"), "us-central1").usd_per_hour
    four = job_rate(_body(gpu_spec="8xA100", workers="3"), "us-central1")
    assert four.usd_per_hour == pytest.approx(4 * one)
    assert [p.replicas for p in four.parts] == [1, 1, 3, 3]


def test_sweep_estimate_side_by_side_unless_chosen_and_bound_with_timeout():
    bodies = [_body(gpu_spec="8xA100")] * 3
    both = sweep_estimate(bodies, "us-central1", timeout=5400)
    data = both.to_json()
    assert [o["strategy"] for o in data["options"]] == ["on-demand", "SPOT"]
    od = data["options"][0]
    assert od["sweep_usd_per_hour"] == pytest.approx(3 * od["job_usd_per_hour"])
    assert od["max_usd"] == pytest.approx(od["sweep_usd_per_hour"] * 1.5)
    assert data["chosen"] is None and data["timeout_seconds"] == 5400
    assert any(n.startswith("Spot prices change") for n in data["notes"])
    assert both.guard_figure()[0] == pytest.approx(od["max_usd"])
    spot = sweep_estimate([_body(gpu_spec="8xA100", spot=True)], "us-central1",
                          chosen="SPOT").to_json()
    assert [o["strategy"] for o in spot["options"]] == ["SPOT"]
    assert spot["options"][0]["max_usd"] is None  # no timeout, no bound
    no_timeout = sweep_estimate(bodies, "us-central1")
    assert no_timeout.guard_figure()[0] == pytest.approx(od["sweep_usd_per_hour"])


def _record(state, started=None, ended=None, gpu_spec="8xA100"):
    return {"state": state, "region": "us-central1", "request": _body(gpu_spec=gpu_spec),
            "started": started, "ended": ended}


def test_cost_so_far_follows_the_billing_rules():
    rate = job_rate(_body(gpu_spec="8xA100"), "us-central1").usd_per_hour
    t0, t1 = "2026-12-01T10:00:00.123456789Z", "2026-12-01T10:30:00.123456Z"
    done = cost_so_far(_record("SUCCEEDED", t0, t1))
    assert done["seconds"] == 1800 and done["billed"]
    assert done["usd"] == pytest.approx(rate / 2, abs=1e-5)
    cancelled = cost_so_far(_record("CANCELLED", t0, t1))
    assert cancelled["usd"] == done["usd"] and "cancelled" in cancelled["why"]
    failed = cost_so_far(_record("FAILED", t0, t1))
    assert failed["usd"] == 0 and not failed["billed"]
    queued = cost_so_far(_record("PENDING"))
    assert queued["usd"] == 0 and queued["seconds"] == 0
    now = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.timezone.utc)
    running = cost_so_far(_record("RUNNING", t0), now)
    assert running["seconds"] == 3599 and running["usd"] == pytest.approx(
        rate * 3599 / 3600, abs=1e-5)
    unknown = cost_so_far(_record("SUCCEEDED", t0, t1, gpu_spec="8xH100"))
    assert unknown["usd"] is None and unknown["unknown"]
    total = group_cost([_record("SUCCEEDED", t0, t1), _record("FAILED", t0, t1)])
    assert total == {"usd": done["usd"], "unknown": [], "jobs": 2}
    assert group_cost([_record("SUCCEEDED", t0, t1, gpu_spec="8xH100")])["usd"] is None


def test_a_stale_table_warns_once_per_session_with_how_to_refresh(monkeypatch):
    table = PriceTable({"_meta": {"as_of": "2026-01-01"}, "regions": {}})
    monkeypatch.setattr(prices_mod, "_WARNED", False)
    today = dt.date(2026, 12, 1)
    first = sweep_estimate([_body(gpu_spec="8xA100")], "us-central1", table=table,
                           today=today)
    assert len(first.warnings) == 1
    assert "334 days old" in first.warnings[0] and "prices.json" in first.warnings[0]
    again = sweep_estimate([_body(gpu_spec="8xA100")], "us-central1", table=table,
                           today=today)
    assert again.warnings == ()
    assert table.stale_warning(dt.date(2026, 3, 1)) is None  # 59 days: fresh

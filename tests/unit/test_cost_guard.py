"""Cost in the dry run (text and JSON) and the ``max_cost`` guard, as a user meets them."""

from __future__ import annotations

import json
import re

import pytest
from support import caliban

from caliban_jupyter.ask import ask_in_kernel
from caliban_jupyter.errors import UsageError
from caliban_jupyter.service.costs import over_max_cost
from caliban_jupyter.service.plan import CloudRequest, plan_from_request
from caliban_jupyter.spec.prices import get_prices
from caliban_jupyter.spec.runtime import RuntimeFlags

A100 = ("--project_id", "p", "--region", "us-central1", "--gpu_spec", "8xA100",
        "--image_tag", "img:1")


def test_dry_run_text_shows_machine_and_gpu_figures_with_source_and_date(project):
    table = get_prices()
    machine = table.machine("us-central1", "a2-highgpu-8g")
    gpu = table.accelerator("us-central1", "A100")
    r = caliban(project, "cloud", "--dry_run", *A100, "trainer.train")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"Cost (estimate from list prices as of {table.as_of}, us-central1; USD):" in out
    assert f"a2-highgpu-8g ${machine.usd_per_hour}/h: Compute Engine list price, " \
           f"{machine.source} (read {machine.read})" in out
    assert f"8 x A100 ${gpu.usd_per_hour}/h: Compute Engine list price, {gpu.source} " \
           f"(read {gpu.read})" in out
    # Nothing chosen: on demand and Spot side by side.
    assert re.search(r"^  on-demand: \$29\.39/h per job$", out, re.M), out
    assert re.search(r"^  Spot: \$\d+\.\d\d/h per job$", out, re.M), out


def test_dry_run_with_spot_shows_the_spot_figure_only(project):
    table = get_prices()
    spot = table.accelerator("us-central1", "A100", "SPOT")
    r = caliban(project, "cloud", "--dry_run", *A100, "--spot", "trainer.train")
    assert r.returncode == 0, r.stderr
    assert f"8 x A100 ${spot.usd_per_hour}/h" in r.stdout
    assert "on-demand:" not in r.stdout and "  Spot: " in r.stdout


def test_dry_run_json_has_the_cost_object(project):
    (project / "exp.json").write_text('{"lr": [0.1, 0.01, 0.001]}')
    r = caliban(project, "cloud", "--dry_run", "--format", "json", *A100, "--timeout", "2h",
                "--experiment_config", "exp.json", "trainer.train")
    assert r.returncode == 0, r.stderr
    cost = json.loads(r.stdout)["cost"]
    assert cost["currency"] == "USD" and cost["estimate"] == "list prices"
    assert cost["jobs"] == 3 and cost["timeout_seconds"] == 7200 and cost["chosen"] is None
    od, spot = cost["options"]
    assert (od["strategy"], spot["strategy"]) == ("on-demand", "SPOT")
    assert od["sweep_usd_per_hour"] == pytest.approx(3 * od["job_usd_per_hour"])
    assert od["max_usd"] == pytest.approx(2 * od["sweep_usd_per_hour"])
    assert [p["name"] for p in od["parts"]] == ["a2-highgpu-8g", "A100"]
    assert all(p["source"].startswith("https://") and p["read"] for p in od["parts"])


def test_dry_run_with_unknown_prices_says_so(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "p",
                "--gpu_spec", "1xL4", "--image_tag", "img:1", "trainer.train")
    assert r.returncode == 0, r.stderr
    option = json.loads(r.stdout)["cost"]["options"][0]
    assert option["job_usd_per_hour"] is None
    assert any(m.startswith("no price known for g2-standard-4 in us-central1 (prices as of ")
               for m in option["unknown"])


@pytest.mark.parametrize("amount", ["abc", "0", "-5", "inf"])
def test_max_cost_must_be_a_positive_amount(project, amount):
    r = caliban(project, "cloud", "--dry_run", *A100, "--max_cost", amount, "trainer.train")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert f"--max_cost {amount!r} is not a positive amount of US dollars" in r.stderr


def test_max_cost_in_the_config_file_is_checked_too(project):
    (project / ".calibanconfig.json").write_text('{"max_cost": "lots"}')
    r = caliban(project, "cloud", "--dry_run", *A100, "trainer.train")
    assert r.returncode == 2
    assert "max_cost (from .calibanconfig.json) 'lots' is not a positive amount" in r.stderr


def test_a_sweep_above_max_cost_is_refused_with_no_terminal_to_ask(project):
    r = caliban(project, "cloud", *A100, "--timeout", "1h", "--max_cost", "10",
                "trainer.train")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert re.search(r"refusing to submit a sweep above max_cost without confirmation: "
                     r"stdin is not a terminal; pass --yes to go ahead, or raise --max_cost",
                     r.stderr), r.stderr


def _plan(project, **kw):
    runtime = RuntimeFlags(**{k: kw.pop(k) for k in ("timeout", "spot") if k in kw})
    return plan_from_request(CloudRequest(module="trainer.train", cwd=str(project),
                                          image_tag="img:1", project_id="p",
                                          runtime=runtime, **kw))


def test_over_max_cost_compares_the_bound_or_the_hourly_rate(project):
    assert over_max_cost(_plan(project, gpu_spec="8xA100")) is None  # no max_cost
    assert over_max_cost(_plan(project, gpu_spec="8xA100", max_cost="1000",
                               timeout="2h")) is None
    reason = over_max_cost(_plan(project, gpu_spec="8xA100", max_cost="50", timeout="2h"))
    assert reason == "this sweep would cost at most $58.77 (1 job(s), $29.39/h, timeout), " \
                     "above --max_cost $50.00"
    hourly = over_max_cost(_plan(project, gpu_spec="8xA100", max_cost="20"))
    assert hourly.startswith("this sweep would cost $29.39 per hour (1 job(s), no --timeout)")
    # Spot is what the jobs run on when chosen: cheaper, under the limit.
    assert over_max_cost(_plan(project, gpu_spec="8xA100", max_cost="20", spot=True)) is None
    unknown = over_max_cost(_plan(project, gpu_spec="1xL4", max_cost="20"))
    assert unknown.startswith("the cost of this sweep is unknown (no price known for ")


def test_the_notebook_asks_in_the_input_box_and_refuses_without_one():
    asked = []
    assert ask_in_kernel("Submit?", action="submit", refusal="raise max_cost",
                         ask=lambda q: asked.append(q) or "y")
    assert asked == ["Submit? [y/N] "]
    assert not ask_in_kernel("Submit?", action="submit", refusal="r", ask=lambda q: "")

    def no_stdin(question):
        raise NotImplementedError("raw_input was called, but this frontend does not support "
                                  "input requests")

    with pytest.raises(UsageError, match="refusing to submit without confirmation: nobody "
                                         "can answer here; raise max_cost"):
        ask_in_kernel("Submit?", action="submit", refusal="raise max_cost", ask=no_stdin)

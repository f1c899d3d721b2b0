"""Cost over REST: the dry run's `cost` object (docs/cost-json.md), and a submission above
max_cost refused with a 400 (the lab has nobody to ask), nothing recorded."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from caliban_jupyter.history import History


def _notebook(root) -> str:
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), root / "nb.ipynb")
    return "nb.ipynb"


async def test_the_dry_run_carries_the_cost(api, jp_root_dir, caliban_home):
    status, body = await api("POST", "submissions", body={
        "notebook": _notebook(jp_root_dir), "dry_run": True,
        "options": {"backend": "local", "gpu_spec": "8xA100", "timeout": "1h",
                    "experiment_config": {"lr": [0.1, 0.2]}}})
    assert status == 200, body
    cost = body["cost"]
    assert cost["jobs"] == 2 and cost["region"] == "us-central1" and cost["chosen"] is None
    od, spot = cost["options"]
    assert (od["strategy"], spot["strategy"]) == ("on-demand", "SPOT")
    assert od["max_usd"] == od["sweep_usd_per_hour"] > od["job_usd_per_hour"] > 0
    assert [(p["kind"], p["name"], p["count"]) for p in od["parts"]] == [
        ("machine", "a2-highgpu-8g", 1), ("accelerator", "A100", 8)]


async def test_a_submission_above_max_cost_is_refused(api, jp_root_dir, caliban_home):
    status, body = await api("POST", "submissions", body={
        "notebook": _notebook(jp_root_dir),
        "options": {"backend": "local", "gpu_spec": "8xA100", "max_cost": 1,
                    "xgroup": "too-dear"}})
    assert status == 400, body
    assert body["message"].startswith("refusing to submit: this sweep would cost $29.39 per "
                                      "hour (1 job(s), no --timeout), above --max_cost $1.00")
    assert "nobody can confirm it here" in body["message"]
    with History() as history:
        assert history.group("too-dear") is None  # nothing recorded, nothing built

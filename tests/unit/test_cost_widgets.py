"""Cost in the widgets: the form's estimate follows the choices; max_cost in the form."""

from __future__ import annotations

import pytest

from caliban_jupyter.widgets.form import CalibanForm


@pytest.fixture
def project(tmp_path, monkeypatch):
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "REGION", "CALIBAN_ENDPOINT",
                "CALIBAN_MAX_COST"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "train.py").write_text("print('hi')\n")
    return tmp_path


def make(project):
    return CalibanForm("train.py", initial={"backend": "local"}, cwd=str(project),
                       table_options={"autostart": False})


def test_the_form_updates_the_estimate_when_the_accelerator_count_changes(project):
    f = make(project)
    f.accelerator.value = "A100"
    f.count.value = 1
    one = f.message.value
    assert "Estimated cost (list prices as of " in one and "us-central1" in one
    assert "on-demand: $3.67/h per job" in one and "Spot: $" in one
    f.count.value = 8
    eight = f.message.value
    assert "on-demand: $29.39/h per job" in eight
    f.accelerator.value = "L4"  # no figure: said, never $0
    f.count.value = 1
    assert "no price known for L4 in us-central1" in f.message.value
    assert "$0.00" not in f.message.value


def test_the_form_refuses_a_sweep_above_max_cost_it_cannot_ask_about(project, monkeypatch):
    monkeypatch.setenv("CALIBAN_MAX_COST", "5")
    f = make(project)
    f.accelerator.value = "A100"
    f.count.value = 8
    assert f.submit() is None
    assert f.failure.startswith("nothing submitted: this sweep would cost $29.39 per hour")
    assert "above max_cost (environment CALIBAN_MAX_COST) $5.00" in f.failure
    assert not f.submit_button.disabled  # nothing half done: it can be edited and retried


def _job(index, state, started=None, ended=None, gpu_spec="8xA100"):
    from caliban_jupyter.records import record_for_spec
    from caliban_jupyter.spec.accelerators import resolve_machine
    from caliban_jupyter.spec.jobs import JobSpec

    machine = resolve_machine(gpu_spec=gpu_spec, tpu_spec=None, machine_type=None,
                              region="us-central1", gpu_mode=True)
    spec = JobSpec(display_name=f"j_{index}", index=index, region="us-central1",
                   image_uri="img", args=(), labels={}, machine=machine)
    return record_for_spec(spec, submission_id=f"s{index}", xgroup="g", backend="vertex",
                           project="p").evolve(state=state, started=started, ended=ended)


def test_rows_show_each_jobs_cost_once_ended_and_its_rate_while_running():
    from caliban_jupyter.tables import render_table
    from caliban_jupyter.widgets import _rows

    done = _job(1, "SUCCEEDED", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z")
    failed = _job(2, "FAILED", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z")
    running = _job(3, "RUNNING", "2026-12-01T10:00:00Z")
    unknown = _job(4, "SUCCEEDED", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z",
                   gpu_spec="8xH100")
    assert _rows.cost_cell(done) == "$29.39"
    assert _rows.cost_cell(failed) == "$0.00"  # failed on its own: not billed
    assert _rows.cost_cell(running) == "$29.39/h"  # stable between refreshes
    assert _rows.cost_cell(unknown) == "?"
    assert "<div>$29.39</div>" in _rows.row_html(done, [])
    assert "<b>est. cost</b>" in _rows.header_html([])
    assert _rows.cost_summary([done, failed, running]) == \
        "est. cost $29.39 + 1 running at $29.39/h (list prices)"
    assert _rows.cost_summary([done, unknown]).startswith(
        "est. cost ? (list prices; no price known for a3-highgpu-8g in us-central1")
    text = render_table([done, failed])
    assert "EST. COST" in text.splitlines()[1]
    assert text.splitlines()[-1].startswith(
        "  estimated cost so far of these 2 jobs: $29.39 (list prices as of ")

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
    assert "on-demand $3.67/h per job" in one and "Spot $" in one
    f.count.value = 8
    eight = f.message.value
    assert "on-demand $29.39/h per job" in eight
    f.accelerator.value = "T4"  # no figure: said, never $0
    f.count.value = 1
    assert "no price known for T4 in us-central1" in f.message.value
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

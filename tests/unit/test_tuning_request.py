"""``--tune SPACE``: the plan's checks and the HyperparameterTuningJob request it builds,
the entrypoint that reports the metric, and the trials as rows (no service here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caliban_jupyter.errors import SearchSpaceError, UsageError
from caliban_jupyter.records import JobRecord, best_row, search_of, trial_rows
from caliban_jupyter.service.plan import CloudRequest, plan_from_request
from caliban_jupyter.service.tuning import tuning_job_body

SPACE = {"metric": "loss", "goal": "minimize", "trials": 6, "parallel": 2,
         "parameters": {"lr": {"min": 1e-4, "max": 0.1, "scale": "log"},
                        "layers": {"min": 1, "max": 8, "type": "int"},
                        "optimizer": ["adam", "sgd"]}}


def _plan(project: Path, **kw):
    return plan_from_request(CloudRequest(backend="local", nogpu=True, cwd=str(project),
                                          env={}, xgroup="g1", name="n", **kw))


def test_the_request_is_the_sweeps_job_as_trial_job_spec_with_the_search(project):
    (project / "space.json").write_text("// the search\n" + json.dumps(SPACE))
    plan = _plan(project, module="trainer.train", tune="space.json",
                 script_args=("--epochs", "3"))
    assert len(plan.specs) == 1 and plan.tuning is not None
    job = plan.specs[0].with_image("img:1").to_custom_job()
    body = tuning_job_body(plan.tuning, job)
    assert body == {
        "displayName": job["displayName"],
        "labels": job["labels"],
        "studySpec": {
            "metrics": [{"metricId": "loss", "goal": "MINIMIZE"}],
            "parameters": [
                {"parameterId": "lr", "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.1},
                 "scaleType": "UNIT_LOG_SCALE"},
                {"parameterId": "layers", "integerValueSpec": {"minValue": "1",
                                                               "maxValue": "8"},
                 "scaleType": "UNIT_LINEAR_SCALE"},
                {"parameterId": "optimizer", "categoricalValueSpec": {"values": ["adam",
                                                                                 "sgd"]}}],
            "algorithm": "ALGORITHM_UNSPECIFIED"},
        "maxTrialCount": 6, "parallelTrialCount": 2, "maxFailedTrialCount": 0,
        "trialJobSpec": job["jobSpec"],
    }
    # The trials' own args are the job's; Vertex appends --name=value to them.
    container = body["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]
    assert container["args"] == ["--epochs", "3"]
    assert job["labels"]["xgroup"] == "g1"


def test_a_dict_is_taken_as_the_space(project):
    plan = _plan(project, module="trainer.train", tune=SPACE)
    assert plan.tuning.names == ("lr", "layers", "optimizer")


def test_tune_with_an_experiment_config_is_refused_in_one_message(project):
    with pytest.raises(UsageError, match="cannot go together"):
        _plan(project, module="trainer.train", tune=SPACE, experiment_config={"a": [1, 2]})


def test_a_missing_space_file_says_what_to_give(project):
    with pytest.raises(SearchSpaceError, match="--tune nope.json: no such file"):
        _plan(project, module="trainer.train", tune="nope.json")


@pytest.mark.parametrize(("change", "message"), [
    ({"trials": 2, "parallel": 3}, "more than \"trials\""),
    ({"parameters": {"lr": {"min": 0.0, "max": 1.0, "scale": "log"}}}, "needs every value > 0"),
    ({"parameters": {"lr": {"min": 1.0, "max": 1.0}}}, "must be less than max"),
    ({"algorithm": "grid"}, "grid search cannot cover the continuous range"),
    ({"algorithm": "bayes"}, "unknown algorithm 'bayes'"),
])
def test_bad_spaces_are_refused_before_anything_is_built(project, change, message):
    with pytest.raises(SearchSpaceError, match=message):
        _plan(project, module="trainer.train", tune={**SPACE, **change})


def test_a_metric_the_cell_never_assigns_is_refused_naming_what_it_assigns(project):
    program = "x = lr * 2\nacc = x + layers\nprint(acc)\n"
    with pytest.raises(SearchSpaceError) as e:
        _plan(project, program=program, tune=SPACE,
              program_parameters=("lr", "layers", "optimizer"))
    assert "'loss' is never assigned by the cell (it assigns x, acc)" in str(e.value)
    # Assigned: accepted.
    plan = _plan(project, program=program + "loss = acc\n", tune=SPACE,
                 program_parameters=("lr", "layers", "optimizer"))
    assert plan.tuning.metric == "loss"


def test_the_cells_runner_reports_the_metric(project):
    from caliban_jupyter.service.build import build_request

    plan = _plan(project, program="loss = lr\n", tune=SPACE,
                 program_parameters=("lr", "layers", "optimizer"))
    req = build_request(plan)
    assert req.entrypoint == ("python3", "caliban_outputs.py", "--outputs", "",
                              "--metric", "loss", "caliban_main.py")
    assert "caliban_outputs.py" in req.generated_files
    # A sweep's cell keeps its plain entrypoint.
    assert build_request(_plan(project, program="loss = 1\n")).entrypoint == \
        ("python3", "caliban_main.py")


def test_a_script_reports_through_the_runner_a_module_itself(project):
    from caliban_jupyter.service.build import build_request

    script = build_request(_plan(project, module="trainer/train.py", tune=SPACE))
    assert script.entrypoint == ("python3", "caliban_outputs.py", "--outputs", "",
                                 "--metric", "loss", "trainer/train.py")
    module = build_request(_plan(project, module="trainer.train", tune=SPACE))
    assert module.entrypoint is None  # python3 -m trainer.train: its hypertune calls report


def _record(trials, goal="MINIMIZE") -> JobRecord:
    return JobRecord(
        submission_id="s", display_name="n_1", xgroup="g", index=1, state="RUNNING",
        backend="local", project="p", region="r", image_uri="i",
        request={"studySpec": {"metrics": [{"metricId": "loss", "goal": goal}],
                               "parameters": [{"parameterId": "lr"}]},
                 "trialJobSpec": {"baseOutputDirectory": {"outputUriPrefix": "gs://b/x/"}}},
        trials=tuple(trials))


TRIALS = [
    {"id": "1", "state": "SUCCEEDED", "parameters": [{"parameterId": "lr", "value": 0.1}],
     "finalMeasurement": {"metrics": [{"metricId": "loss", "value": 0.5}]}},
    {"id": "2", "state": "SUCCEEDED", "parameters": [{"parameterId": "lr", "value": 0.01}],
     "finalMeasurement": {"metrics": [{"metricId": "loss", "value": 0.2}]}},
    {"id": "3", "state": "INFEASIBLE", "parameters": [{"parameterId": "lr", "value": 0.3}],
     "infeasibleReason": "the tuning metric 'loss' was never assigned"},
    {"id": "4", "state": "ACTIVE", "parameters": [{"parameterId": "lr", "value": 0.02}]},
]


def test_trials_become_rows_with_the_best_marked():
    rows = trial_rows(_record(TRIALS))
    assert [(r["trial"], r["lr"], r["loss"], r["state"], r["best"]) for r in rows] == [
        ("1", 0.1, 0.5, "SUCCEEDED", False), ("2", 0.01, 0.2, "SUCCEEDED", True),
        ("3", 0.3, None, "INFEASIBLE", False), ("4", 0.02, None, "ACTIVE", False)]
    assert rows[2]["error"] == "the tuning metric 'loss' was never assigned"
    maximize = trial_rows(_record(TRIALS, goal="MAXIMIZE"))
    assert [r["trial"] for r in maximize if r["best"]] == ["1"]
    assert best_row(rows, "loss", "MINIMIZE")["trial"] == "2"
    assert search_of([_record(TRIALS)]) == {"metric": "loss", "goal": "MINIMIZE",
                                            "parameters": ["lr"]}


def test_a_tuning_record_round_trips_with_its_trials_and_old_records_still_load():
    record = _record(TRIALS)
    back = JobRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert back == record and back.is_tuning
    old = record.to_json()
    del old["trials"]
    old["request"] = {"jobSpec": {}}
    legacy = JobRecord.from_json(old)
    assert legacy.trials == () and not legacy.is_tuning


def test_status_shows_the_trials_under_the_tuning_job():
    from caliban_jupyter.tables import render_table

    text = render_table([_record(TRIALS)])
    assert "   *2      SUCCEEDED    0.2            lr=0.01" in text
    assert "error: the tuning metric 'loss' was never assigned" in text


def test_a_notebook_target_reports_the_metric_through_its_runner(project):
    from caliban_jupyter.service.build import build_request

    (project / "nb.ipynb").write_text(json.dumps({
        "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    req = build_request(_plan(project, module="nb.ipynb", tune=SPACE))
    assert req.entrypoint == ("python3", "caliban_notebook.py", "--outputs", "",
                              "--metric", "loss", "nb.ipynb", "--")


def test_sweep_best_and_plot_for_a_search_and_for_a_plain_sweep(monkeypatch, history):
    from caliban_jupyter.notebook.sweep import Sweep
    from caliban_jupyter.service.groups import JobGroup

    search = Sweep(JobGroup("g", history=history, records=[_record(TRIALS)]))
    rows = trial_rows(_record(TRIALS))
    monkeypatch.setattr(Sweep, "results", lambda self, *a, **k: rows)
    assert search.best()["trial"] == "2"
    figure = search.plot()
    assert type(figure).__name__ == "Figure"
    assert [ax.get_xlabel() for ax in figure.axes][:1] == ["lr"]

    plain = Sweep(JobGroup("p", history=history, records=[]))
    sweep_rows = [{"job": "a", "lr": 0.1, "loss": 0.3, "state": "SUCCEEDED"},
                  {"job": "b", "lr": 0.2, "loss": 0.1, "state": "SUCCEEDED"}]
    monkeypatch.setattr(Sweep, "results", lambda self, *a, **k: sweep_rows)
    monkeypatch.setattr(JobGroup, "experiments", lambda self: {1: {"lr": 0.1}, 2: {"lr": 0.2}})
    assert plain.best("loss", maximize=False)["job"] == "b"
    assert [ax.get_xlabel() for ax in plain.plot("loss").axes][:1] == ["lr"]
    with pytest.raises(UsageError, match="not a search"):
        plain.best()
    with pytest.raises(UsageError, match="sweep.plot\\('loss'\\)"):
        plain.plot()


def test_the_servers_notebook_submission_takes_the_space_as_json_text(project):
    from caliban_jupyter.server.adapter import plan_notebook

    (project / "nb.ipynb").write_text(json.dumps({
        "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    plan = plan_notebook(project, "nb.ipynb", {
        "backend": "local", "nogpu": True, "tune": "// a search\n" + json.dumps(SPACE)},
        dry_run=True)
    assert plan.tuning is not None and plan.tuning.trials == 6 and len(plan.specs) == 1


def test_a_search_costs_its_trials_run_time_on_their_machine():
    from caliban_jupyter.spec.cost import cost_so_far, job_rate
    from caliban_jupyter.tables import cost_fields

    job = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"},
                                "replicaCount": "1", "containerSpec": {"imageUri": "i"}}]}
    trials = [{"id": str(i), "state": "SUCCEEDED", "startTime": f"2026-01-01T00:0{i}:00Z",
               "endTime": f"2026-01-01T00:{i + 3:02d}:00Z"} for i in (1, 2)]
    record = _record(trials).evolve(
        state="SUCCEEDED", started="2026-01-01T00:00:30Z", region="us-central1",
        request={**_record(trials).request, "trialJobSpec": job})
    cost = cost_so_far(cost_fields(record))
    assert cost["seconds"] == 2 * 180  # two trials of 3 minutes
    rate = job_rate({"jobSpec": job}, "us-central1").usd_per_hour
    assert cost["usd"] == pytest.approx(rate * 360 / 3600, abs=1e-4)


def test_the_live_tables_row_of_a_search_shows_its_trials():
    from caliban_jupyter.widgets._rows import row_html

    html = row_html(_record(TRIALS), [])
    assert "class='caliban-trials'" in html
    assert "<tr style='font-weight:bold'><td style='text-align:left'>2</td>" in html
    assert "the tuning metric &#x27;loss&#x27; was never assigned" in html


def test_a_job_service_without_tuning_jobs_refuses_a_search_before_the_build():
    from support.fakes import FakeBackend

    from caliban_jupyter.backends.local import LocalBackend
    from caliban_jupyter.service.tuning import check_tuning
    from caliban_jupyter.spec.search_space import load_search_space

    space = load_search_space(SPACE)
    check_tuning(space, experiment_config=None, program=None, target=None,
                 service=LocalBackend)
    with pytest.raises(UsageError, match="backend cannot run hyperparameter tuning jobs"):
        check_tuning(space, experiment_config=None, program=None, target=None,
                     service=FakeBackend)

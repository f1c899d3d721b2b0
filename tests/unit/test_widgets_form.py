"""The submission form without a kernel: choices follow the catalog, the service validates."""

from __future__ import annotations

import threading

import pytest
from support import job_record as record

from caliban_jupyter import events as ev
from caliban_jupyter.errors import BuildError
from caliban_jupyter.spec import accelerators as acc
from caliban_jupyter.widgets.form import CalibanForm


@pytest.fixture
def project(tmp_path, monkeypatch):
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "REGION", "CALIBAN_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "train.py").write_text("print('hi')\n")
    return tmp_path


def make(project, **initial) -> CalibanForm:
    initial.setdefault("backend", "local")
    return CalibanForm("train.py", initial=initial, cwd=str(project),
                       table_options={"autostart": False})


def values(dropdown):
    return [v for _, v in dropdown.options]


def test_defaults_mirror_caliban_cloud(project):
    f = make(project)
    assert (f.kind.value, f.accelerator.value, f.count.value) == ("GPU", "P100", 1)
    assert f.error is None and not f.submit_button.disabled
    assert f.plan is not None and f.plan.machine.machine_type == "n1-standard-8"


def test_v100_offers_its_counts_and_a100_only_a2_machines(project):
    f = make(project)
    f.accelerator.value = "V100"
    assert values(f.count) == [1, 2, 4, 8]
    f.accelerator.value = "A100"
    machines = values(f.machine_type)[1:]
    assert machines and all(m.startswith("a2-") for m in machines)
    assert values(f.region) == acc.regions_for("A100")


def test_a_region_hides_what_it_lacks(project):
    f = make(project, region="europe-west4")
    offered = values(f.accelerator)
    assert offered == [t for t in acc.gpu_types() if "europe-west4" in acc.regions_for(t)]
    assert len(offered) < len(acc.gpu_types())
    assert "hidden" in f.hidden_note.value
    assert set(values(f.machine_type)[1:]) <= set(acc.machine_types(region="europe-west4"))


def test_an_invalid_combination_disables_submit_with_the_reason(project):
    f = make(project)
    f.accelerator.value = "V100"
    f.count.value = 8
    assert f.error is None
    f.accelerator.value = "T4"  # 8 stays, marked, and the service says why
    assert ("8 ✗ not offered for T4", 8) in f.count.options
    assert f.submit_button.disabled and f.dry_run_button.disabled
    assert "T4 in counts 1, 2, 4 only" in f.error
    f.count.value = 4
    assert f.error is None and not f.submit_button.disabled


def test_prefilled_invalid_spec_is_kept_and_explained(project):
    f = make(project, gpu_spec="3xV100")
    assert f.count.value == 3
    assert "counts 1, 2, 4, 8 only, not 3" in f.error


def test_cpu_only_jobs(project):
    f = make(project)
    f.nogpu.value = True
    assert f.kind.value == "none" and f.accelerator.layout.display == "none"
    assert "a2-highgpu-1g" not in values(f.machine_type)
    assert f.plan is not None and f.plan.machine.accelerator_type is None
    f.kind.value = "GPU"
    assert f.nogpu.value is False


def test_experiment_config_errors_show_line_and_column(project):
    f = make(project)
    f.experiments.text.value = '{\n  // sweep\n  "lr": [0.1, 0.01],\n  "layers": [2, x]\n}'
    assert "line 4, column 17" in f.error and f.submit_button.disabled
    f.experiments.text.value = '{\n  // sweep\n  "lr": [0.1, 0.01],\n  "layers": [2, 3, 4]\n}'
    assert f.error is None
    assert "<b>6 jobs</b>" in f.preview.value and "… and 1 more" in f.preview.value
    assert "--lr 0.1 --layers 2" in f.preview.value and "layers=2" in f.preview.value


def test_the_buttons_follow_the_verdict_before_the_message_shows_it(project):
    # ipywidgets sends each trait to the browser when it is set, before its observers
    # run: what an observer of the message sees is what the browser has when the message
    # appears. A ✗ shown while Submit is still enabled lets a person (or a browser test)
    # act on a stale button.
    f = make(project)
    seen = []
    f.message.observe(lambda c: seen.append((c["new"][:30], f.submit_button.disabled,
                                             f.dry_run_button.disabled)), names="value")
    f.experiments.text.value = '{\n  "learning_rate": [0.1, oops]\n}'
    f.experiments.text.value = '{"learning_rate": [0.1, 0.01]}'
    assert seen == [
        ("<div class='caliban-form-error", True, True),
        ("<div class='caliban-form-ok' s", False, False)]


def test_every_flag_reaches_the_request(project):
    f = make(project, name="exp", xgroup="my-group", label=["team=ml", "p=1"], dirs=["data"],
             extras=["gpu"], base_image="img:1", image_tag="127.0.0.1:5000/x:1",
             registry="127.0.0.1:5000", project_id="proj", script_args=["--epochs", "3 4"],
             experiment_config={"lr": [0.1, 0.2]}, tpu_spec="8xV3", force=True)
    r = f.request()
    assert (r.module, r.name, r.xgroup, r.labels) == ("train.py", "exp", "my-group",
                                                     ("team=ml", "p=1"))
    assert (r.dirs, r.extras, r.base_image, r.image_tag, r.registry) == (
        ("data",), ("gpu",), "img:1", "127.0.0.1:5000/x:1", "127.0.0.1:5000")
    assert (r.project_id, r.backend, r.force, r.tpu_spec, r.gpu_spec) == (
        "proj", "local", True, "8xV3", None)
    assert r.script_args == ("--epochs", "3 4")
    assert r.experiment_config == {"lr": [0.1, 0.2]}
    assert f.kind.value == "TPU"


def test_a_name_too_long_for_vertex_is_refused_as_you_type(project):
    f = make(project, nogpu=True)
    assert f.error is None
    f.texts["name"].value = "n" * 120
    assert "--name is 120 characters" in f.error and "at most 128" in f.error
    assert f.submit_button.disabled and f.dry_run_button.disabled
    f.texts["name"].value = "n" * 100
    assert f.error is None and not f.submit_button.disabled


def test_labels_changed_or_refused_are_said_in_the_form(project):
    f = make(project, nogpu=True)
    f.texts["labels"].value = "émoji=x, team=ml"
    assert f.error is None and not f.submit_button.disabled
    assert "caliban-form-note" in f.message.value
    assert "label &#x27;émoji=x&#x27; (--label) became &#x27;moji=x&#x27;: dropped " \
           "&#x27;é&#x27;" in f.message.value
    assert "moji=x" in f.preview.value
    f.texts["labels"].value = "xgroup=mine"
    assert "is one of the automatic labels caliban sets" in f.error
    assert f.submit_button.disabled


def test_vertex_without_a_project_is_explained(project):
    f = make(project, backend="vertex")
    assert "no Google Cloud project" in f.error


def _fake_execute(monkeypatch, gate=None, fail=None):
    calls = []

    def execute(plan, progress):
        calls.append(threading.get_ident())
        progress(ev.BuildStep(1, 2, "FROM base"))
        if gate is not None:
            gate.wait(10)
        if fail is not None:
            raise fail
        progress(ev.ImageReady("127.0.0.1:5000/img:1", built=True, pushed=True))
        records = [record(s.index, "QUEUED", display_name=s.display_name, xgroup=plan.xgroup)
                   for s in plan.specs]
        for i, r in enumerate(records, 1):
            progress(ev.JobSubmitted(i, len(records), r.display_name, "r", "u"))
        return records

    monkeypatch.setattr("caliban_jupyter.service.submission.execute", execute)
    return calls


def test_submit_runs_in_the_background_then_shows_the_table(project, monkeypatch):
    gate = threading.Event()
    calls = _fake_execute(monkeypatch, gate=gate)
    f = make(project, experiment_config={"lr": [0.1, 0.2]}, xgroup="grp")
    thread = f.submit()
    assert thread is not None and thread.is_alive()  # the kernel's thread is free
    assert f.submit_button.disabled
    assert f.submit() is None  # one submission at a time
    gate.set()
    table = f.wait(10)
    assert calls and calls[0] != threading.get_ident()
    assert table is not None and table.xgroup == "grp"
    assert [r.state for r in table.records] == ["QUEUED", "QUEUED"]
    assert f.results.children[-1] is table
    progress = f.results.children[0]
    assert progress.submit.value == 2 and progress.build.bar_style == "success"
    # Submitted: the button stays off until the form is edited (a second click of a
    # double click, arriving after a quick submission, must not submit it again).
    assert f.submit_button.disabled and f.submit_button.description == "Submitted"
    f.texts["xgroup"].value = "grp2"
    assert not f.submit_button.disabled and f.submit_button.description == "Submit"
    table.close()


def test_clicking_submit_twice_submits_once(project, monkeypatch):
    gate = threading.Event()
    calls = _fake_execute(monkeypatch, gate=gate)
    f = make(project, xgroup="twice")
    f.submit_button.click()
    f.submit_button.click()  # while the first submission runs
    assert f.submit_button.disabled and f.dry_run_button.disabled
    gate.set()
    table = f.wait(10)
    assert table is not None and f.failure is None
    f.submit_button.click()  # after it ended: the same form is not submitted again
    assert f._thread is not None
    f.wait(10)
    assert len(calls) == 1
    assert f.submit_button.disabled
    table.close()


def test_submit_is_enabled_again_after_an_error(project, monkeypatch):
    calls = _fake_execute(monkeypatch, fail=BuildError("step 1/2 failed"))
    f = make(project)
    f.submit_button.click()
    assert f.wait(10) is None and f.failure == "step 1/2 failed"
    assert not f.submit_button.disabled and f.submit_button.description == "Submit"
    f.submit_button.click()  # a retry after an error is a new submission
    f.wait(10)
    assert len(calls) == 2


def test_program_preview_shows_the_captured_program(project):
    from caliban_jupyter.notebook.args import cloud_parser
    from caliban_jupyter.notebook.forms import program_form

    history = ["import math\nscale = 3", "unused = 1"]
    args = cloud_parser("t").parse_args([])
    f = program_form("print(math.pi * scale)", history, args, {"backend": "local"},
                     cwd=str(project))
    assert f.plan is not None and f.plan.program
    shown = f.program_view.value
    import html

    # Exactly what the image gets (the plan's program), escaped, in the accordion.
    assert html.escape(f.plan.program) in shown and "caliban_main.py" in shown
    assert "scale = 3" in f.plan.program and "unused" not in f.plan.program
    assert f.program_box.children == (f.program_view,)
    assert f.program_box.get_title(0) == "program"


def test_program_preview_of_a_module_names_its_command(project):
    f = make(project)
    assert "python3 train.py" in f.program_view.value
    assert "no generated program" in f.program_view.value


def test_a_failed_submission_shows_one_message(project, monkeypatch):
    _fake_execute(monkeypatch, fail=BuildError("step 2/5 RUN pip install . failed: no "
                                               "such package 'nope'"))
    f = make(project)
    f.submit()
    assert f.wait(10) is None
    assert f.failure.startswith("step 2/5 RUN pip install . failed")
    assert "no such package" in f.message.value and "Traceback" not in f.message.value
    assert f.results.children[0].build.bar_style == "danger"
    assert not f.submit_button.disabled


def test_dry_run_lists_the_jobs(project, monkeypatch):
    f = make(project, image_tag="127.0.0.1:5000/x:1", experiment_config={"lr": [1, 2]})
    shown = f.dry_run()
    assert len(shown) == 2
    assert "caliban-dry-run" in f.results.children[0].value


def test_outputs_and_output_dir_fields(project):
    f = make(project, output=["loss", "w"])
    assert f.texts["outputs"].value == "loss, w"
    assert f.plan is not None and f.plan.outputs == ("loss", "w")
    assert f.plan.specs[0].output_uri.startswith("gs://caliban-local/")
    f.texts["output_dir"].value = "gs://my-bucket/runs"
    assert f.plan.specs[0].output_uri.startswith("gs://my-bucket/runs/")
    f.backend.value = "vertex"
    f.texts["project_id"].value = "p"
    f.texts["output_dir"].value = ""
    assert f.submit_button.disabled
    assert "-o loss" in f.error and "--output_dir gs://BUCKET/PREFIX" in f.error

"""Outputs, without Docker: the output location of each job, the `-o` values the job side
saves (run for real in this interpreter) and how the client reads them back."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from caliban_jupyter.errors import UsageError
from caliban_jupyter.packaging.jobfiles import caliban_outputs as job
from caliban_jupyter.records import JobRecord, output_uri_of, record_for_spec, spec_from_record
from caliban_jupyter.service.backends import backend_type
from caliban_jupyter.service.outputs import (
    Locator,
    download_summary,
    read_outputs,
    results,
    to_table,
)
from caliban_jupyter.service.plan import CloudRequest, plan_from_request
from caliban_jupyter.settings import resolve_settings
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec
from caliban_jupyter.spec.outputs import (
    aip_environment,
    check_output_names,
    job_output_uri,
    resolve_output_dir,
)
from caliban_jupyter.storage import DownloadReport, LocalLocation

np = pytest.importorskip("numpy")


# -- where -------------------------------------------------------------------------------

def test_output_dir_per_backend(tmp_path):
    vertex, local = backend_type("vertex"), backend_type("local")

    def resolve(value, cls, cwd="."):
        return resolve_output_dir(value, default=cls.default_output_dir,
                                  local_dirs=cls.local_output_dirs, service=cls.title, cwd=cwd)

    assert resolve(None, vertex) is None
    assert resolve(None, local) == "gs://caliban-local"
    assert resolve("gs://my-bucket/runs/", vertex) == "gs://my-bucket/runs"
    assert resolve("gs://my-bucket", local) == "gs://my-bucket"
    assert resolve("out", local, str(tmp_path)) == (tmp_path / "out").as_uri()
    with pytest.raises(UsageError, match="Vertex AI writes job outputs to Cloud Storage only"):
        resolve("/tmp/out", vertex)
    with pytest.raises(UsageError, match="not a Cloud Storage bucket name"):
        resolve("gs://Bad_Bucket!/x", vertex)
    with pytest.raises(UsageError, match="gs://BUCKET/PREFIX or a local directory"):
        resolve("s3://b/x", local)
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        resolve(str(tmp_path / "f"), local)


def test_vertex_variables_follow_the_base():
    uri = job_output_uri("gs://b/p", "grp", "run_1")
    assert uri == "gs://b/p/grp/run_1/"
    assert aip_environment(uri) == {"AIP_MODEL_DIR": "gs://b/p/grp/run_1/model/",
                                    "AIP_CHECKPOINT_DIR": "gs://b/p/grp/run_1/checkpoints/",
                                    "AIP_TENSORBOARD_LOG_DIR": "gs://b/p/grp/run_1/logs/"}


def test_output_names_are_identifiers():
    assert check_output_names(["loss", "w", "loss"]) == ("loss", "w")
    with pytest.raises(UsageError, match="-o weights.npy"):
        check_output_names(["weights.npy"])


def _spec(output_uri=None, name="run_1"):
    return JobSpec(display_name=name, index=1, region="us-central1", image_uri="img:1",
                   args=(), labels={}, machine=MachineSpec("n1-standard-4"),
                   output_uri=output_uri)


def test_custom_job_carries_base_output_directory_and_resubmits_move_it():
    body = _spec("gs://b/p/g/run_1/").to_custom_job()
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/p/g/run_1/"}
    assert "baseOutputDirectory" not in _spec().to_custom_job()["jobSpec"]
    record = record_for_spec(_spec("gs://b/p/g/run_1/"), submission_id="s", xgroup="g",
                             backend="vertex", project="p")
    assert output_uri_of(record) == "gs://b/p/g/run_1/"
    again = spec_from_record(record, display_name="run_1-retry1")
    assert again.output_uri == "gs://b/p/g/run_1-retry1/"


def _plan(tmp_path, **kw):
    (tmp_path / "train.py").write_text("loss = 1\n")
    kw.setdefault("module", "train.py")
    return plan_from_request(CloudRequest(cwd=str(tmp_path), nogpu=True, env={}, **kw))


def test_plan_gives_each_job_its_location(tmp_path):
    plan = _plan(tmp_path, backend="local", xgroup="grp", outputs=("loss",),
                 experiment_config={"a": [1, 2]})
    assert [s.output_uri for s in plan.specs] == [
        f"gs://caliban-local/grp/{s.display_name}/" for s in plan.specs]
    plan = _plan(tmp_path, project_id="p", xgroup="grp", output_dir="gs://bkt/x")
    assert plan.specs[0].output_uri == f"gs://bkt/x/grp/{plan.specs[0].display_name}/"


def test_vertex_without_output_dir_rejects_o_and_says_how(tmp_path):
    assert _plan(tmp_path, project_id="p").specs[0].output_uri is None
    with pytest.raises(UsageError, match=r"-o loss.*Vertex AI backend has none.*--output_dir "
                                         r"gs://BUCKET/PREFIX.*CALIBAN_OUTPUT_DIR"):
        _plan(tmp_path, project_id="p", outputs=("loss",))
    with pytest.raises(UsageError, match="Cloud Storage only"):
        _plan(tmp_path, project_id="p", output_dir=str(tmp_path))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "__init__.py").write_text("")
    (tmp_path / "m" / "run.py").write_text("")
    with pytest.raises(UsageError, match="not a module"):
        _plan(tmp_path, backend="local", module="m.run", outputs=("x",))


def test_output_dir_setting_everywhere(tmp_path):
    (tmp_path / ".calibanconfig.json").write_text('{"output_dir": "gs://cfg/x"}')
    s = resolve_settings({}, cwd=tmp_path, env={})
    assert (s.output_dir, s.sources["output_dir"]) == ("gs://cfg/x", ".calibanconfig.json")
    s = resolve_settings({}, cwd=tmp_path, env={"CALIBAN_OUTPUT_DIR": "gs://env/x"})
    assert (s.output_dir, s.sources["output_dir"]) == ("gs://env/x",
                                                       "environment CALIBAN_OUTPUT_DIR")
    s = resolve_settings({}, cwd=tmp_path, env={"CALIBAN_OUTPUT_DIR": "gs://env/x"},
                         session={"output_dir": "gs://ses/x"})
    assert s.output_dir == "gs://ses/x"
    s = resolve_settings({"output_dir": "gs://flag/x"}, cwd=tmp_path, env={},
                         session={"output_dir": "gs://ses/x"})
    assert s.output_dir == "gs://flag/x"


def test_dry_run_warns_about_an_o_name_the_program_never_assigns(tmp_path):
    plan = _plan(tmp_path, backend="local", program="loss = 0.5\nprint(loss)\n",
                 module=None, outputs=("loss", "weights"))
    assert plan.warnings == (
        "-o weights: the program never assigns 'weights' (the job will fail naming it); "
        "define it in the cell, or drop -o weights",)
    # Names set from strings (the experiment-parameter block) are not flagged.
    plan = _plan(tmp_path, backend="local", module=None, outputs=("lr",),
                 program="globals().update({'lr': 1})\n")
    assert plan.warnings == ()
    plan = _plan(tmp_path, backend="local", module=None, outputs=("loss",),
                 program="_caliban_await('loss = await f()')\n")
    assert plan.warnings == ()


# -- the job side, run here ----------------------------------------------------------------

def test_serializers():
    assert job.serialize({"a": [1, 2.5, None, "x"]})[:2] == (".json", "json")
    assert job.serialize((1, 2))[1] in ("pickle", "cloudpickle")  # a tuple is not a list
    assert job.serialize({1: "a"})[1] != "json"                   # int keys would turn str
    assert job.serialize(float("nan"))[1] != "json"
    assert job.serialize(np.arange(3.0))[:2] == (".npy", "npy")
    assert job.serialize(np.array([object()]))[1] != "npy"


def _run_job(tmp_path, program: str, names, *args):
    (tmp_path / "prog.py").write_text(program)
    base = tmp_path / "out" / "grp" / "job_1"
    r = subprocess.run(
        [sys.executable, job.__file__, "--outputs", ",".join(names), str(tmp_path / "prog.py"),
         *args], capture_output=True, text=True, timeout=60,
        env={"AIP_MODEL_DIR": f"{base}/model/", "PATH": "/usr/bin:/bin"})
    return r, base


def _record(base: Path, state="SUCCEEDED", error=None, index=1) -> JobRecord:
    spec = _spec(base.as_uri() + "/", name=f"job_{index}")
    spec = JobSpec(**{**spec.__dict__, "index": index})
    return record_for_spec(spec, submission_id=f"s{index}", xgroup="grp", backend="local",
                           project="local").evolve(state=state, error=error)


def test_values_round_trip_through_the_manifest(tmp_path):
    program = ("import sys, numpy\nclass Box:\n    def __init__(self, v): self.v = v\n"
               "loss = float(sys.argv[2]) / 4\nweights = numpy.arange(3) * loss\n"
               "box = Box(3)\nhist = [1, 2]\n")
    r, base = _run_job(tmp_path, program, ["loss", "weights", "hist"], "--lr", "2")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((base / "outputs" / "manifest.json").read_text())
    assert manifest["python"] and manifest["error"] is None
    assert {n: e["serializer"] for n, e in manifest["outputs"].items()} == {
        "loss": "json", "weights": "npy", "hist": "json"}
    found = read_outputs(_record(base), LocalLocation(base))
    assert found.error is None
    assert found.values["loss"] == 0.5 and found.values["hist"] == [1, 2]
    np.testing.assert_array_equal(found.values["weights"], [0, 0.5, 1.0])


def test_undefined_name_fails_the_job_naming_it(tmp_path):
    r, base = _run_job(tmp_path, "loss = 1\n", ["loss", "acc"])
    assert r.returncode == 1
    assert "-o acc: the program never defined 'acc'" in r.stderr
    found = read_outputs(_record(base, "FAILED"), LocalLocation(base))
    assert found.values == {"loss": 1}
    assert "-o acc: the program never defined 'acc'" in found.error


def test_a_program_that_raises_records_its_error(tmp_path):
    r, base = _run_job(tmp_path, "loss = 1\nraise ValueError('lr too large')\n", ["loss"])
    assert r.returncode == 1
    assert "ValueError: lr too large" in r.stderr and "caliban_outputs" not in r.stderr
    found = read_outputs(_record(base, "FAILED", error="exit 1"), LocalLocation(base))
    assert found.values == {} and found.error == "ValueError: lr too large"


def test_unpicklable_mismatch_and_missing_manifest_are_row_messages(tmp_path):
    program = "import threading\nlock = threading.Lock()\nx = 1\ny = 2\n"
    r, base = _run_job(tmp_path, program, ["lock", "x", "y"])
    assert r.returncode == 0, r.stderr
    (base / "outputs" / "y.json").write_text("3")  # changed after the job wrote it
    found = read_outputs(_record(base), LocalLocation(base))
    assert found.values == {"x": 1}
    assert "-o lock: cannot be saved (TypeError" in found.error
    assert "y: y.json does not match its sha256" in found.error
    # A pickle whose class this kernel cannot import.
    data = _pickle_of_a_vanished_class(tmp_path)
    other = tmp_path / "other"
    job.save_outputs({}, [], str(other))
    (other / "outputs" / "v.pkl").write_bytes(data)
    import hashlib

    manifest = json.loads((other / "outputs" / "manifest.json").read_text())
    manifest["outputs"]["v"] = {"file": "v.pkl", "serializer": "pickle", "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()}
    (other / "outputs" / "manifest.json").write_text(json.dumps(manifest))
    found = read_outputs(_record(other), LocalLocation(other))
    assert "v: cannot be loaded here (ModuleNotFoundError" in found.error
    missing = read_outputs(_record(tmp_path / "nothing"), LocalLocation(tmp_path / "nothing"))
    assert missing.error == "the job saved no values (submitted without -o)"
    assert read_outputs(_record(tmp_path, "RUNNING"), LocalLocation(tmp_path)).error == \
        "RUNNING: not finished yet"
    assert read_outputs(_record(tmp_path, "NOT_SUBMITTED", error="quota exceeded"),
                        LocalLocation(tmp_path)).error == "quota exceeded"


def _pickle_of_a_vanished_class(tmp_path) -> bytes:
    (tmp_path / "gone_mod_i12.py").write_text("class Foo:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import gone_mod_i12

        return pickle.dumps(gone_mod_i12.Foo())
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gone_mod_i12", None)
        (tmp_path / "gone_mod_i12.py").unlink()


def test_results_rows_are_flat_and_in_order(tmp_path, monkeypatch):
    rows_in = []
    for i, lr in ((2, 0.5), (1, 0.1)):
        base = tmp_path / f"j{i}"
        job.save_outputs({"loss": lr * 2}, ["loss"], str(base))
        rows_in.append(_record(base, index=i))
    rows = results(rows_in, Locator(), configs={1: {"lr": 0.1}, 2: {"lr": 0.5}}, workers=4)
    assert rows == [
        {"job": "job_1", "lr": 0.1, "loss": 0.2, "state": "SUCCEEDED", "error": None,
         "cost_usd": 0.0},  # no start time recorded: it did not run, nothing billed
        {"job": "job_2", "lr": 0.5, "loss": 1.0, "state": "SUCCEEDED", "error": None,
         "cost_usd": 0.0}]
    assert results(rows_in, Locator(), configs={1: {"lr": 0.1}, 2: {"lr": 0.5}},
                   workers=1) == rows
    monkeypatch.setitem(sys.modules, "pandas", None)  # pandas absent: plain rows
    assert to_table(rows) is rows


def test_notebook_jobs_link_their_executed_notebook():
    from caliban_jupyter.records import executed_notebook_url, notebook_of
    from caliban_jupyter.widgets._rows import row_html

    spec = JobSpec(**{**_spec("gs://b/runs/g/nb_1/").__dict__, "notebook": "an/nb.ipynb"})
    body = spec.to_custom_job()
    assert body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"] == [
        {"name": "CALIBAN_NOTEBOOK", "value": "an/nb.ipynb"}]
    vertex = record_for_spec(spec, submission_id="s", xgroup="g", backend="vertex",
                             project="p").evolve(state="FAILED")
    assert notebook_of(vertex) == "an/nb.ipynb"
    assert executed_notebook_url(vertex) == (
        "https://console.cloud.google.com/storage/browser/_details/b/runs/g/nb_1/"
        "notebook.ipynb")
    local = vertex.evolve(backend="local", url="http://127.0.0.1:8470/ui/jobs/7")
    assert executed_notebook_url(local) == "http://127.0.0.1:8470/ui/jobs/7/notebook"
    assert 'href="http://127.0.0.1:8470/ui/jobs/7/notebook"' in row_html(local, [])
    assert "ipynb" not in row_html(local.evolve(state="RUNNING"), [])
    script = record_for_spec(_spec("gs://b/runs/g/s_1/"), submission_id="s", xgroup="g",
                             backend="vertex", project="p").evolve(state="SUCCEEDED")
    assert notebook_of(script) is None and executed_notebook_url(script) is None
    assert spec_from_record(vertex, display_name="nb_1-retry1").notebook == "an/nb.ipynb"


def test_a_default_group_that_gains_a_suffix_moves_its_output_locations(tmp_path):
    from caliban_jupyter.service.group_names import _relabeled

    plan = _plan(tmp_path, backend="local", outputs=("loss",))
    moved = _relabeled(plan, plan.xgroup + "-2")
    assert [s.output_uri for s in moved.specs] == [
        f"gs://caliban-local/{plan.xgroup}-2/{s.display_name}/" for s in plan.specs]
    assert moved.specs[0].labels["xgroup"] == plan.xgroup + "-2"


def test_a_download_is_summed_up_with_its_executed_notebooks(tmp_path):
    """What `caliban outputs` and %caliban_outputs print (one function in the service)."""
    (tmp_path / "job_2.ipynb").write_text("{}")
    report = DownloadReport(copied=["a", "b"], skipped=["c"], bytes=2_500_000)
    assert download_summary(report, tmp_path, ["job_1", "job_2"]).splitlines() == [
        f"2 file(s) copied (2.5 MB), 1 already there with the same hash, in {tmp_path}",
        f"  executed notebook: {tmp_path / 'job_2.ipynb'}"]

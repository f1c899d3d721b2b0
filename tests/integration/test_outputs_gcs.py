"""Job outputs on Cloud Storage, read with the real google-cloud-storage client from a
Cloud Storage emulator (gcp-storage-emulator): what Vertex jobs leave behind through their
/gcs/ mount, downloaded and read back with hashes checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from caliban_jupyter.packaging.jobfiles import caliban_outputs as job
from caliban_jupyter.records import record_for_spec
from caliban_jupyter.service.outputs import Locator, download, results
from caliban_jupyter.settings import resolve_settings
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

np = pytest.importorskip("numpy")

BUCKET = "caliban-outputs-test"


def _write_job(tmp_path: Path, gcs, name: str, values: dict) -> str:
    """Write what a Vertex job writes through /gcs/ (the runner's own code), then upload
    it as the FUSE mount would; returns the job's output URI."""
    base = tmp_path / "jobs" / name
    job.save_outputs(values, list(values), str(base))
    (base / "model").mkdir()
    (base / "model" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (base / "notebook.ipynb").write_text('{"cells": []}')
    bucket = gcs.bucket(BUCKET)
    for path in base.rglob("*"):
        if path.is_file():
            bucket.blob(f"runs/grp/{name}/{path.relative_to(base).as_posix()}") \
                .upload_from_filename(str(path))
    return f"gs://{BUCKET}/runs/grp/{name}/"


def _record(name: str, index: int, uri: str):
    spec = JobSpec(display_name=name, index=index, region="us-central1", image_uri="i:1",
                   args=("--lr", str(index / 10)), labels={}, machine=MachineSpec("n1"),
                   output_uri=uri)
    return record_for_spec(spec, submission_id=name, xgroup="grp", backend="vertex",
                           project="test").evolve(state="SUCCEEDED",
                                                  resource_name=f"p/l/customJobs/{index}")


@pytest.fixture
def jobs(tmp_path, gcs):
    if gcs.lookup_bucket(BUCKET) is None:
        gcs.create_bucket(BUCKET)
    return [_record(f"run_{i}", i, _write_job(tmp_path, gcs, f"run_{i}",
                                               {"loss": i / 4, "w": np.arange(i)}))
            for i in (1, 2, 3)]


def test_download_checks_hashes_and_skips_on_rerun(tmp_path, gcs, jobs):
    locator = Locator(resolve_settings({"project_id": "test"}, env={}))
    dest = tmp_path / "dest"
    first = download(jobs, dest, locator)
    assert len(first.copied) == 3 * 5 and first.skipped == []  # manifest, 2 values, 2 files
    for i in (1, 2, 3):
        got = dest / f"run_{i}"
        assert (got / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 64
        assert (dest / f"run_{i}.ipynb").read_text() == '{"cells": []}'
        manifest = json.loads((got / "outputs" / "manifest.json").read_text())
        for entry in manifest["outputs"].values():
            data = (got / "outputs" / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    again = download(jobs, dest, locator)
    assert again.copied == [] and len(again.skipped) == 15
    (dest / "run_2" / "model" / "weights.bin").write_bytes(b"changed here")
    third = download(jobs, dest, locator)
    assert third.copied == [str(dest / "run_2" / "model" / "weights.bin")]
    assert (dest / "run_2" / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 64


def test_results_from_cloud_storage_check_each_value(tmp_path, gcs, jobs):
    locator = Locator(resolve_settings({"project_id": "test"}, env={}))
    rows = results(jobs, locator, configs={i: {"lr": i / 10} for i in (1, 2, 3)})
    assert [(r["job"], r["lr"], r["loss"], r["error"]) for r in rows] == [
        ("run_1", 0.1, 0.25, None), ("run_2", 0.2, 0.5, None), ("run_3", 0.3, 0.75, None)]
    np.testing.assert_array_equal(rows[2]["w"], [0, 1, 2])
    # A value changed after the job wrote it is reported in its row, not loaded.
    gcs.bucket(BUCKET).blob("runs/grp/run_1/outputs/loss.json").upload_from_string(b"9")
    rows = results(jobs, locator)
    assert "loss" not in rows[0]
    assert rows[0]["error"] == ("loss: loss.json does not match its sha256 in the manifest "
                                "(changed after the job wrote it)")

"""Staging uploads through the real google-cloud-storage client, against a GCS emulator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from caliban_jupyter.errors import StagingError
from caliban_jupyter.packaging import staging
from caliban_jupyter.packaging.staging import GcsStaging, LocalStaging, ensure_staged, stage

from .gcs_faults import DroppingGcs


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_object_is_uploaded_once(staging_gcs, tmp_path):
    bucket = staging_gcs.new_bucket()
    location = GcsStaging(f"gs://{bucket}/team/a")
    path = _file(tmp_path, "caliban_job-0+abc.tar.gz", b"package bytes")
    built = []

    def build() -> Path:
        built.append(1)
        return path

    uri, uploaded = stage(location, path.name, build)
    assert (uri, uploaded) == (f"gs://{bucket}/team/a/caliban/packages/{path.name}", True)
    [blob] = staging_gcs.objects(bucket).values()
    generation = blob.generation
    assert generation
    assert blob.name == f"team/a/caliban/packages/{path.name}"
    assert blob.download_as_bytes() == b"package bytes"
    assert stage(location, path.name, build) == (uri, False)
    assert built == [1]  # the second time nothing was even built
    [again] = staging_gcs.objects(bucket).values()
    assert again.generation == generation
    assert location.read(path.name, "packages", start=8) == b"bytes"
    assert location.read("log-none.txt", "cloudbuild-logs") == b""


def test_a_missing_bucket_says_what_to_do(staging_gcs, tmp_path):
    location = GcsStaging("gs://caliban-no-such-bucket-here")
    path = _file(tmp_path, "p.tar.gz", b"x")
    with pytest.raises(StagingError) as e:
        location.upload(path, path.name)
    assert "uploading p.tar.gz" in str(e.value)


def test_an_upload_failing_midway_is_one_error(monkeypatch, tmp_path):
    monkeypatch.setattr(staging, "UPLOAD_DEADLINE", 1.0)
    path = _file(tmp_path, "caliban_job-0+abc.tar.gz", b"z" * 5000)
    with DroppingGcs() as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
        with pytest.raises(StagingError) as e:
            stage(GcsStaging("gs://bkt"), path.name, lambda: path)
        assert gcs.uploads >= 1
    msg = str(e.value)
    assert msg.startswith("uploading caliban_job-0+abc.tar.gz (5.0 kB) to "
                          "gs://bkt/caliban/packages/caliban_job-0+abc.tar.gz failed: ")
    assert "check the network and the bucket, then submit again" in msg
    assert "\n" not in msg


def test_resubmission_uploads_from_the_cache(staging_gcs, tmp_path):
    bucket = staging_gcs.new_bucket()
    cache = tmp_path / "cache"
    cache.mkdir()
    _file(cache, "caliban_job-0+abc.tar.gz", b"cached")
    uri = f"gs://{bucket}/caliban/packages/caliban_job-0+abc.tar.gz"
    ensure_staged([uri, uri], cache)
    assert [b.download_as_bytes() for b in staging_gcs.objects(bucket).values()] == [b"cached"]
    with pytest.raises(StagingError, match="missing from .* and from the local cache"):
        ensure_staged([f"gs://{bucket}/caliban/packages/caliban_job-0+def.tar.gz"], cache)


def test_local_staging_is_a_directory(tmp_path):
    location = LocalStaging(tmp_path / "stage")
    path = _file(tmp_path, "caliban_job-0+abc.tar.gz", b"local")
    uri, uploaded = stage(location, path.name, lambda: path)
    assert uploaded and uri == (tmp_path / "stage/caliban/packages/caliban_job-0+abc.tar.gz"
                                ).as_uri()
    staged = tmp_path / "stage" / "caliban" / "packages" / path.name
    assert hashlib.sha256(staged.read_bytes()).digest() == hashlib.sha256(b"local").digest()
    assert stage(location, path.name, lambda: path) == (uri, False)

"""Which images the emulator runs on a local image, and which objects /gcs/ copies in. Pure."""

from __future__ import annotations

import pytest

from caliban_jupyter.emulator.gcs_mount import named_prefixes
from caliban_jupyter.emulator.prebuilt import ENV, is_prebuilt, map_images
from caliban_jupyter.emulator.replicas import Replica


@pytest.mark.parametrize("image", [
    "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    "europe-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest",
    "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
    "gcr.io/cloud-aiplatform/training/tf-cpu.2-3:latest",
    "us-docker.pkg.dev/deeplearning-platform-release/gcr.io/base-cu121.py310",
    "gcr.io/deeplearning-platform-release/pytorch-gpu",
])
def test_googles_prebuilt_images_are_recognised(image):
    assert is_prebuilt(image)


@pytest.mark.parametrize("image", [
    "caliban-base:bookworm-py3-nb", "python:3.12-slim", "127.0.0.1:5000/team/vertex-ai:1",
    "us-docker.pkg.dev/my-project/vertex-ai/trainer:1",
])
def test_other_images_are_run_as_given(image):
    assert not is_prebuilt(image)


def test_mapping_uses_the_setting_then_the_environment(monkeypatch):
    prebuilt = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest"
    planned = [Replica(0, 0, 1, prebuilt), Replica(1, 0, 2, "mine:1")]
    mapped, notes = map_images(planned, "local:1")
    assert [r.image for r in mapped] == ["local:1", "mine:1"]
    assert notes == {prebuilt: "local:1"}
    monkeypatch.setenv(ENV, "from-env:2")
    assert map_images(planned, None)[0][0].image == "from-env:2"
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("CALIBAN_BASE_IMAGE", "base:3")
    assert map_images(planned, None)[0][0].image == "base:3"


def test_named_prefixes_come_from_packages_output_args_command_and_env():
    body = {"jobSpec": {
        "baseOutputDirectory": {"outputUriPrefix": "gs://out/runs/a:b"},
        "workerPoolSpecs": [
            {"pythonPackageSpec": {"packageUris": ["gs://stage/pkg/job.tar.gz"],
                                   "args": ["--data", "gs://data/sets/v1/"],
                                   "env": [{"name": "X", "value": "/gcs/data/extra.csv"}]}},
            {},
            {"containerSpec": {"command": ["sh", "-c", "pip install /gcs/stage/p2.tar.gz && x"],
                               "args": ["gs://whole"]}}]}}
    assert named_prefixes(body) == {
        "out": {"runs/a:b"}, "stage": {"pkg/job.tar.gz", "p2.tar.gz"},
        "data": {"sets/v1/", "extra.csv"}, "whole": {""}}

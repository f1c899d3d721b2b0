"""Vertex AI's prebuilt images on the emulator: run on a local image instead.

A job may name an image only Google serves: a prebuilt training image
(``us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest``, which the SDK's
``CustomJob.from_local_script`` sends as ``pythonPackageSpec.executorImageUri``), a prebuilt
prediction image (``.../vertex-ai/prediction/...``), an older ``gcr.io/cloud-aiplatform/...``
one, or a Deep Learning Container (``.../deeplearning-platform-release/...``). Offline none
can be pulled, so the emulator runs such a job on one local image: the
``prebuilt_image`` setting (``caliban emulator --prebuilt-image``, or
``CALIBAN_EMULATOR_PREBUILT_IMAGE``), by default the base-image setting
(``CALIBAN_BASE_IMAGE``, else caliban's default CPU base image). The job's log says which
image ran in place of which.

That image must carry what the job needs (Python 3, pip, the job's libraries): the
emulator rehearses the request and the program, not the framework Google's image holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import containers
from .replicas import Replica

ENV = "CALIBAN_EMULATOR_PREBUILT_IMAGE"
# The hosts and repositories Google publishes these images under. The SDK itself tells a
# prebuilt training image by "docker.pkg.dev/vertex-ai/" or "gcr.io/cloud-aiplatform/"
# (google/cloud/aiplatform/jobs.py, CustomJob.from_local_script); Deep Learning Containers
# live in deeplearning-platform-release
# (https://cloud.google.com/deep-learning-containers/docs/choosing-container).
_PREBUILT = re.compile(
    r"^(?:[a-z0-9-]+-docker\.pkg\.dev/(?:vertex-ai|vertex-ai-restricted|"
    r"deeplearning-platform-release)/"
    r"|(?:[a-z]+\.)?gcr\.io/(?:cloud-aiplatform|deeplearning-platform-release)/)")


def is_prebuilt(image: str) -> bool:
    """Whether ``image`` is one of Google's prebuilt images (never pullable here)."""
    return bool(_PREBUILT.match(image.strip()))


def default_local_image() -> str:
    """The local image prebuilt ones run as when the emulator is given none."""
    from ..settings import DEFAULT_BASE_IMAGES

    return (os.environ.get(ENV) or os.environ.get("CALIBAN_BASE_IMAGE")
            or DEFAULT_BASE_IMAGES["cpu"])


def map_images(planned: Sequence[Replica], local: str | None
               ) -> tuple[list[Replica], dict[str, str]]:
    """``planned`` with every prebuilt image replaced by ``local`` (None: the default), and
    ``{prebuilt: local}`` of what was replaced."""
    target = local or default_local_image()
    mapped = {r.image: target for r in planned if is_prebuilt(r.image)}
    return [replace(r, image=mapped.get(r.image, r.image)) for r in planned], mapped


def note(prebuilt: str, local: str) -> str:
    """The job-log line that says which image ran in place of which."""
    return (f"{prebuilt} is a Vertex AI prebuilt image: running it as {local} (the "
            f"emulator's prebuilt_image setting; {ENV} or --prebuilt-image change it)")


def missing(prebuilt: str, local: str, why: str) -> str:
    """The error of a job whose mapped local image is not on this machine."""
    return (f"{prebuilt} is a Vertex AI prebuilt image, which the emulator runs as the "
            f"local image {local}, and that image is unavailable ({why}). Make it (docker "
            f"build -t {local} ... from an image with Python 3 and pip, or docker pull it "
            f"where a registry is reachable), or point the emulator at a local image you "
            f"have: {ENV}=IMAGE or `caliban emulator --prebuilt-image IMAGE`.")


def ensure_images(client: Any, planned: Sequence[Replica], mapped: Mapping[str, str],
                  log: Path) -> None:
    """Make every image of ``planned`` local, saying in the job's ``log`` which prebuilt
    image runs as which.

    Raises
    ------
    containers.ImageUnavailable
        An image is missing; for a mapped one the message names it and how to make it.
    """
    from .replicas import note as log_note

    for image, local in mapped.items():
        log_note(log, note(image, local))
    for image in dict.fromkeys(r.image for r in planned):
        try:
            containers.ensure_image(client, image)
        except containers.ImageUnavailable as e:
            source = next((p for p, lo in mapped.items() if lo == image), None)
            if source is None:
                raise
            raise containers.ImageUnavailable(missing(source, image, str(e))) from None

"""Job specs: one frozen value per job, and its Vertex AI CustomJob REST form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import JobRuntime

from ..errors import UsageError
from .executors import PackageRun
from .machine import MachineSpec

#: Set in a notebook job's container: the notebook it executes.
NOTEBOOK_ENV = "CALIBAN_NOTEBOOK"

#: Vertex AI's limit on a CustomJob's display name.
MAX_DISPLAY_NAME = 128


def check_display_names(name: str, stamp: str, count: int) -> None:
    """Every job's display name (``{name}_{stamp}_{index}``, index up to ``count``) must
    fit Vertex's limit: said in the plan, not by Vertex after the build."""
    longest = f"{name}_{stamp}_{count}"
    if len(longest) > MAX_DISPLAY_NAME:
        room = MAX_DISPLAY_NAME - (len(longest) - len(name))
        raise UsageError(
            f"--name is {len(name)} characters: job display names ({name[:20]}..._{stamp}_"
            f"{count}) would be {len(longest)} characters, and Vertex AI allows at most "
            f"{MAX_DISPLAY_NAME}; shorten --name to at most {room} characters")


@dataclass(frozen=True)
class JobSpec:
    """One job of a sweep, fully decided: what Vertex (or the emulator) is asked to run.

    ``index`` is 1-based within the experiment group; ``experiment`` the expanded config
    entry that produced ``args``. ``runtime`` holds scheduling, worker pools, env and the
    other runtime settings (``None``: Vertex's defaults, one machine); ``output_uri`` the
    job's output location (``baseOutputDirectory``), or None when outputs are off.
    """

    display_name: str
    index: int
    region: str
    image_uri: str
    args: tuple[str, ...]
    labels: Mapping[str, str]
    machine: MachineSpec
    experiment: Mapping[str, Any] = field(default_factory=dict)
    runtime: JobRuntime | None = None
    #: ``--build package``: the code package the job runs on ``image_uri`` (None: the
    #: image itself is the program).
    package: PackageRun | None = None
    output_uri: str | None = None
    # A notebook job's notebook (relative path): sent as CALIBAN_NOTEBOOK in the container's
    # environment, so the job's record says where its executed notebook is.
    notebook: str | None = None

    def to_custom_job(self) -> dict[str, Any]:
        """The CustomJob request body in Vertex's REST JSON form (lowerCamelCase)."""
        container = {"imageUri": self.image_uri, "args": list(self.args)}
        if self.runtime is not None:
            job_spec = self.runtime.job_spec(self.machine, container)
        else:
            job_spec = {"workerPoolSpecs": [{"machineSpec": self.machine.to_json(),
                                             "replicaCount": "1",
                                             "containerSpec": container}]}
        if self.output_uri:
            job_spec["baseOutputDirectory"] = {"outputUriPrefix": self.output_uri}
        if self.notebook:
            pool = job_spec["workerPoolSpecs"][0]
            chief = pool["containerSpec"]  # a copy: pools may share one container dict
            pool["containerSpec"] = {**chief, "env": [*chief.get("env", []),
                                                      {"name": NOTEBOOK_ENV,
                                                       "value": self.notebook}]}
        body = {"displayName": self.display_name, "labels": dict(self.labels),
                "jobSpec": job_spec}
        return self.package.apply(body) if self.package is not None else body

    def with_image(self, image_uri: str) -> JobSpec:
        from dataclasses import replace

        return replace(self, image_uri=image_uri)

    def with_labels(self, extra: Mapping[str, str]) -> JobSpec:
        from dataclasses import replace

        return replace(self, labels={**self.labels, **extra})

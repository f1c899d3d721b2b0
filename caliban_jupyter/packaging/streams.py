"""Turning the Docker engine's JSON build and push streams into progress events (pure).

The classic builder (what the engine's ``/build`` endpoint runs for the docker SDK) prints
``Step i/n : INSTRUCTION``, then `` ---> Using cache`` when the step is cached, then the
step's output. Errors arrive as ``{"error": ..., "errorDetail": ...}`` chunks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..errors import BuildError, PushError
from ..events import BuildOutput, BuildStep, Progress, PushProgress

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# The engine colours a step's stderr with ANSI escapes; events carry plain text.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Builder chatter that is not the program's output.
_NOISE = (" ---> ", "Removing intermediate container", "Successfully built",
          "Successfully tagged")
_AUTH_WORDS = ("denied", "unauthorized", "authentication required", "no basic auth",
               "401", "403", "forbidden")


def _advice(instruction: str, base_image: str) -> str:
    if instruction.startswith("FROM") or not instruction:
        return (f"The base image {base_image} is missing or could not be pulled: pull or "
                "build it (scripts/services.sh makes the local test image), or choose "
                "another with the base_image setting.")
    if "apt-get" in instruction:
        return ("An apt package could not be installed: check the names in apt_packages "
                "(flag or .calibanconfig.json) exist in the base image's distribution.")
    if "pip install" in instruction:
        return ("pip could not install the dependencies: fix the failing line of "
                "requirements.txt / setup.py / pyproject.toml (or --extras), or check that "
                "the package index is reachable.")
    return "Fix the failing step and submit again."


class BuildStream:
    """Feed it the decoded build stream; it reports events and raises on a failed step."""

    def __init__(self, progress: Progress, base_image: str, keep: int = 25) -> None:
        self._progress = progress
        self._base_image = base_image
        self._tail: deque[str] = deque(maxlen=keep)
        self._partial = ""
        self.step: BuildStep | None = None
        self.steps: list[BuildStep] = []
        self.image_id: str | None = None

    def feed(self, chunk: Mapping[str, Any]) -> None:
        """Process one decoded JSON chunk from ``APIClient.build(decode=True)``."""
        if "error" in chunk or "errorDetail" in chunk:
            self._flush()
            detail = chunk.get("errorDetail") or {}
            raise self.error(str(chunk.get("error") or detail.get("message") or "unknown"))
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and "ID" in aux:
            self.image_id = str(aux["ID"])
        text = chunk.get("stream")
        if text:
            # A RUN step's output can arrive in pieces that do not end at a newline.
            lines = (self._partial + str(text)).replace("\r\n", "\n").split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line)

    def close(self) -> None:
        """The stream ended: report a trailing partial line."""
        self._flush()

    def _flush(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def _line(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip("\r")
        m = _STEP.match(line)
        if m:
            self.step = BuildStep(int(m.group(1)), int(m.group(2)), m.group(3).strip())
            self.steps.append(self.step)
            self._tail.clear()
            self._progress(self.step)
            return
        if line.strip() == "---> Using cache" and self.step is not None:
            self.step = BuildStep(self.step.index, self.step.total, self.step.instruction, True)
            self.steps[-1] = self.step
            self._progress(self.step)
            return
        if not line.strip() or line.startswith(_NOISE):
            return
        self._tail.append(line)
        self._progress(BuildOutput(line))

    def error(self, message: str) -> BuildError:
        """A :class:`BuildError` naming the failing step, its last output and what to do."""
        step = self.step
        where = (f"step {step.index}/{step.total} failed: {step.instruction}" if step
                 else "the build failed before its first step")
        tail = "\n".join(f"  | {ln}" for ln in self._tail)
        out = f"\nlast output:\n{tail}" if tail else ""
        advice = _advice(step.instruction if step else "", self._base_image)
        return BuildError(f"docker build {where}\n{message.strip()}{out}\n{advice}")

    @property
    def cached(self) -> dict[int, bool]:
        """Step index → whether the builder reused it from the cache."""
        return {s.index: s.cached for s in self.steps}


def registry_host(repository: str) -> str:
    """The registry host of an image reference (``docker.io`` when it names none)."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def push_advice(repository: str) -> str:
    host = registry_host(repository)
    parts = repository.split("/")
    if host.endswith("-docker.pkg.dev") and len(parts) >= 4:
        # Vertex's default registry is REGION-docker.pkg.dev/PROJECT/caliban: say how to
        # create that repository, the step a first push most often lacks.
        location, project, repo = host.removesuffix("-docker.pkg.dev"), parts[1], parts[2]
        return (f"Authenticate Docker to Artifact Registry: `gcloud auth configure-docker "
                f"{host}`; check the repository exists and you may write to it (create it "
                f"with `gcloud artifacts repositories create {repo} --repository-format=docker "
                f"--location={location} --project={project}`), or choose another with "
                "--registry.")
    if host.endswith("-docker.pkg.dev") or host.endswith(".gcr.io") or host == "gcr.io":
        return (f"Authenticate Docker to Artifact Registry: `gcloud auth configure-docker "
                f"{host}`, and check the repository exists and you may write to it.")
    return f"Log in to the registry: `docker login {host}`, then submit again."


class PushStream:
    """Feed it the decoded push stream; it reports byte progress and raises on error."""

    def __init__(self, progress: Progress, repository: str) -> None:
        self._progress = progress
        self._repository = repository
        self._current: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self.digest: str | None = None

    def feed(self, chunk: Mapping[str, Any]) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            raise self.error(str(chunk.get("error") or detail.get("message") or "unknown"))
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and "Digest" in aux:
            self.digest = str(aux["Digest"])
        layer = str(chunk.get("id") or "")
        detail = chunk.get("progressDetail") or {}
        status = str(chunk.get("status") or "")
        if layer and status == "Pushing" and "current" in detail:
            total = int(detail.get("total") or 0)
            # The engine counts compressed bytes against an uncompressed total, so
            # "current" can overshoot: clamp it.
            current = int(detail["current"])
            self._current[layer] = min(current, total) if total else current
            self._total[layer] = total
        elif layer and status in ("Pushed", "Layer already exists") and layer in self._total:
            self._current[layer] = self._total[layer]
        else:
            return
        self._progress(PushProgress(sum(self._current.values()), sum(self._total.values()),
                                    layer))

    def error(self, message: str) -> PushError:
        lowered = message.lower()
        if any(w in lowered for w in _AUTH_WORDS):
            return PushError(f"pushing {self._repository} was refused: {message.strip()}\n"
                             + push_advice(self._repository))
        return PushError(f"pushing {self._repository} failed: {message.strip()}\n"
                         f"Check that the registry {registry_host(self._repository)} is "
                         "reachable and has space, then submit again.")

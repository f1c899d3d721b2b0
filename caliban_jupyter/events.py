"""Progress events: what the pipeline reports while it works.

Every front end renders the same events: the CLI with tqdm, widgets with progress bars.
A progress callback is any ``Callable[[Event], None]``; :func:`ignore` is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Base class; ``message`` is a one-line human rendering."""

    @property
    def message(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Info(Event):
    """A one-line notice (e.g. "started the local Vertex emulator on ...")."""

    text: str

    @property
    def message(self) -> str:
        return self.text


@dataclass(frozen=True)
class Warning_(Event):
    """Something the user should know but that does not stop the pipeline."""

    text: str

    @property
    def message(self) -> str:
        return f"warning: {self.text}"


@dataclass(frozen=True)
class BuildStep(Event):
    """Docker build step ``index`` of ``total`` started (1-based); ``cached`` once known."""

    index: int
    total: int
    instruction: str
    cached: bool = False

    @property
    def message(self) -> str:
        suffix = " (cached)" if self.cached else ""
        return f"step {self.index}/{self.total}: {self.instruction}{suffix}"


@dataclass(frozen=True)
class BuildOutput(Event):
    """One line printed by a build step."""

    line: str

    @property
    def message(self) -> str:
        return self.line


@dataclass(frozen=True)
class PushProgress(Event):
    """Bytes pushed so far, summed over layers (``total`` 0 when unknown)."""

    current: int
    total: int
    layer: str = ""

    @property
    def message(self) -> str:
        return f"pushing {self.current}/{self.total} bytes"


@dataclass(frozen=True)
class ImageReady(Event):
    """The image to run exists: ``built``/``pushed`` say what this run had to do."""

    image: str
    built: bool
    pushed: bool

    @property
    def message(self) -> str:
        what = [w for w, done in (("built", self.built), ("pushed", self.pushed)) if done]
        how = " and ".join(what) if what else "already up to date"
        return f"image {self.image}: {how}"


@dataclass(frozen=True)
class JobSubmitted(Event):
    """Job ``index`` of ``total`` was created (or found already created)."""

    index: int
    total: int
    display_name: str
    resource_name: str
    url: str

    @property
    def message(self) -> str:
        return f"submitted {self.display_name} ({self.index}/{self.total}): {self.url}"


@dataclass(frozen=True)
class JobFailedToSubmit(Event):
    """Job ``index`` could not be submitted; ``reason`` says why."""

    index: int
    total: int
    display_name: str
    reason: str

    @property
    def message(self) -> str:
        return f"NOT submitted {self.display_name} ({self.index}/{self.total}): {self.reason}"


@dataclass(frozen=True)
class JobStateChanged(Event):
    """A refresh saw a job move to ``state``."""

    display_name: str
    resource_name: str
    state: str

    @property
    def message(self) -> str:
        return f"{self.display_name}: {self.state}"


Progress = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default progress callback: drop every event."""

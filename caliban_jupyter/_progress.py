"""Progress shown in a notebook cell while an image is built and jobs are submitted."""

from __future__ import annotations

from typing import Any

from . import events as ev


class CellProgress:
    """Renders pipeline events in the running cell: tqdm.auto bars (widgets in a notebook,
    text elsewhere) for build steps, pushed bytes and submitted jobs; one line per notice."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def _bar(self, key: str, **kwargs: Any) -> Any:
        if key not in self._bars:
            # Imported on first event so a dry run or an error costs nothing.
            from tqdm.auto import tqdm

            self._bars[key] = tqdm(**kwargs)
        return self._bars[key]

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.BuildStep):
            bar = self._bar("build", total=event.total, desc="build", unit="step")
            bar.n = event.index
            bar.set_postfix_str(("cached " if event.cached else "") + event.instruction[:40])
        elif isinstance(event, ev.PushProgress):
            bar = self._bar("push", total=event.total or None, desc="push", unit="B",
                            unit_scale=True)
            if event.total:
                bar.total = event.total
            bar.n = event.current
            bar.refresh()
        elif isinstance(event, (ev.JobSubmitted, ev.JobFailedToSubmit)):
            self._close("build", "push")
            bar = self._bar("submit", total=event.total, desc="submit", unit="job")
            bar.update(1)
            if isinstance(event, ev.JobFailedToSubmit):
                print(event.message)
        elif isinstance(event, ev.ImageReady):
            self._close("build", "push")
            print(event.message)
        elif isinstance(event, (ev.Info, ev.Warning_)):
            print(event.message)

    def _close(self, *keys: str) -> None:
        for key in keys:
            bar = self._bars.pop(key, None)
            if bar is not None:
                bar.refresh()
                bar.close()

    def close(self) -> None:
        self._close(*list(self._bars))

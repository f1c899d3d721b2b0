"""Progress shown while an image is built and jobs are submitted: bars where someone
watches (a terminal, a notebook), plain lines where output is kept (pipes, log files)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from . import events as ev


class LineProgress:
    """One plain line per build step, push quarter, job and notice: no carriage returns or
    bar redraws, which turn a log file or CI output into noise."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._push_quarter = -1

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.BuildStep):
            if not event.cached:  # a cached step reports twice: print its start only
                self._print(f"build {event.message}")
        elif isinstance(event, ev.PushProgress):
            if event.total:
                quarter = min(4, event.current * 4 // event.total)
                if quarter > self._push_quarter:
                    self._push_quarter = quarter
                    self._print(f"push {quarter * 25}% of {event.total / 1e6:.1f} MB")
        elif isinstance(event, (ev.JobSubmitted, ev.JobFailedToSubmit, ev.ImageReady,
                                ev.Info, ev.Warning_)):
            self._print(event.message)
        # BuildOutput (step output) and JobStateChanged are not progress.

    def _print(self, text: str) -> None:
        out = self._out or sys.stderr
        print(text, file=out, flush=True)

    def close(self) -> None:
        """Nothing to close (the same interface as the bar renderers)."""


def in_notebook() -> bool:
    """True inside a Jupyter kernel (tqdm.auto then draws widget bars)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return getattr(shell, "kernel", None) is not None


class CellProgress:
    """Renders pipeline events in the running cell: tqdm.auto bars (widgets in a notebook,
    text on a terminal) for build steps, pushed bytes and submitted jobs, one line per
    notice; plain lines (:class:`LineProgress`) when neither watches, e.g. a script run
    with its output sent to a file."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}
        self._lines = None if in_notebook() or sys.stderr.isatty() else LineProgress(
            sys.stdout)

    def _bar(self, key: str, **kwargs: Any) -> Any:
        if key not in self._bars:
            # Imported on first event so a dry run or an error costs nothing.
            from tqdm.auto import tqdm

            self._bars[key] = tqdm(**kwargs)
        return self._bars[key]

    def __call__(self, event: ev.Event) -> None:
        if self._lines is not None:
            self._lines(event)
        elif isinstance(event, ev.BuildStep):
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

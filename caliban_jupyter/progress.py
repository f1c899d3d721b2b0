"""Progress shown while an image is built and jobs are submitted: bars where someone
watches (a terminal, a notebook), plain lines where output is kept (pipes, log files)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping
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


#: The bars, by key: what each one counts.
BARS = ("build", "push", "submit")


class BarProgress:
    """Renders pipeline events as tqdm bars (build steps, pushed bytes, submitted jobs) and
    one line per notice; the presets :class:`TqdmProgress` (a terminal) and
    :class:`CellProgress` (a notebook cell) choose the tqdm, the streams and the bars' looks.

    Parameters
    ----------
    load_tqdm
        Returns the tqdm class, called on the first bar: importing tqdm on the first event
        keeps a dry run or an early error free of it.
    say
        Shows a notice (an image ready, a job not submitted, an info or a warning).
    stream
        Returns the stream the bars draw on when one is created (None: tqdm's default).
    options
        Extra tqdm keywords of each bar, by key (see :data:`BARS`).
    refresh_on_close
        The bars redrawn once more before they close (their last value may not be drawn).
    """

    def __init__(self, load_tqdm: Callable[[], Any], *, say: Callable[[str], None],
                 stream: Callable[[], TextIO] | None = None,
                 options: Mapping[str, Mapping[str, Any]] | None = None,
                 refresh_on_close: Collection[str] = BARS) -> None:
        self._load_tqdm = load_tqdm
        self._say = say
        self._stream = stream
        self._options = options or {}
        self._refresh_on_close = refresh_on_close
        self._bars: dict[str, Any] = {}

    def _bar(self, key: str, **kwargs: Any) -> Any:
        if key not in self._bars:
            kwargs.update(self._options.get(key, {}))
            if self._stream is not None:
                kwargs["file"] = self._stream()
            self._bars[key] = self._load_tqdm()(**kwargs)
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
                self._say(event.message)
        elif isinstance(event, ev.ImageReady):
            self._close("build", "push")
            self._say(event.message)
        elif isinstance(event, (ev.Info, ev.Warning_)):
            self._say(event.message)

    def _close(self, *keys: str) -> None:
        for key in keys:
            bar = self._bars.pop(key, None)
            if bar is not None:
                if key in self._refresh_on_close:
                    bar.refresh()
                bar.close()

    def close(self) -> None:
        self._close(*BARS)


def _tqdm() -> Any:
    from tqdm import tqdm

    return tqdm


def _tqdm_auto() -> Any:
    from tqdm.auto import tqdm

    return tqdm


def _stderr() -> TextIO:
    return sys.stderr


def _write_above_bars(text: str) -> None:
    # tqdm.write clears the bars, prints, and draws them again below the line.
    _tqdm().write(text, file=sys.stderr)


class TqdmProgress(BarProgress):
    """A terminal's bars, on stderr (stdout stays the records, e.g. ``--format json``)."""

    def __init__(self) -> None:
        # Rates are meaningless for build steps (cached steps take microseconds).
        super().__init__(_tqdm, say=_write_above_bars, stream=_stderr, options={
            "build": {"bar_format": "{desc}: {n_fmt}/{total_fmt} |{bar:20}| {postfix}",
                      "mininterval": 0.2},
            "submit": {"mininterval": 0.2},
        }, refresh_on_close=("build", "push"))


def terminal_progress(stream: Any = None) -> TqdmProgress | LineProgress:
    """Bars when ``stream`` (default stderr) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    return TqdmProgress() if stream.isatty() else LineProgress(stream)


class CellProgress(BarProgress):
    """Renders pipeline events in the running cell: tqdm.auto bars (widgets in a notebook,
    text on a terminal) for build steps, pushed bytes and submitted jobs, one line per
    notice; plain lines (:class:`LineProgress`) when neither watches, e.g. a script run
    with its output sent to a file."""

    def __init__(self) -> None:
        super().__init__(_tqdm_auto, say=print)
        self._lines = None if in_notebook() or sys.stderr.isatty() else LineProgress(
            sys.stdout)

    def __call__(self, event: ev.Event) -> None:
        if self._lines is not None:
            self._lines(event)
        else:
            super().__call__(event)

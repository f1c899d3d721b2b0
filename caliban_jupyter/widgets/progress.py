"""Submission progress as three progress bars (build, push, submit) fed by pipeline events.

:class:`SubmissionProgress` is a progress callback (``Callable[[Event], None]``) like the
CLI's tqdm renderer, so :func:`~caliban_jupyter.service.submission.execute` drives it
directly. It is
called from the submission thread; ipywidgets sends trait changes from any thread.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as w

from .. import events as ev

__all__ = ["SubmissionProgress"]

#: Push progress is shown in thousandths: a layer push reports every few kilobytes, and
#: sending each report to the browser would be pure noise.
_PUSH_STEPS = 1000


def _bar(description: str) -> w.IntProgress:
    return w.IntProgress(value=0, min=0, max=1, description=description,
                         layout=w.Layout(width="420px"),
                         style={"description_width": "70px"})


class SubmissionProgress(w.VBox):
    """Build, push and submission bars plus a one-line status.

    Call it with :class:`~caliban_jupyter.events.Event` objects. Build output lines are
    not shown (the bars replace log spam); the last notice is.

    Attributes
    ----------
    build, push, submit : ipywidgets.IntProgress
        The three bars; each is hidden until its first event.
    status : ipywidgets.HTML
        The latest notice (image ready, emulator started, warnings).
    failures : list of str
        Messages of jobs that could not be submitted.
    """

    def __init__(self, **kwargs: object):
        self.build = _bar("build")
        self.push = _bar("push")
        self.submit = _bar("submit")
        for bar in (self.build, self.push, self.submit):
            bar.layout.display = "none"
        self.push.max = _PUSH_STEPS
        self.status = w.HTML(value="")
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._submitted = 0
        super().__init__(children=[self.build, self.push, self.submit, self.status],
                         **kwargs)
        self.add_class("caliban-progress")

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.BuildStep):
            self._show(self.build)
            with self.build.hold_sync():
                self.build.max = max(event.total, 1)
                self.build.value = min(event.index, self.build.max)
                self.build.description = f"build {event.index}/{event.total}"
        elif isinstance(event, ev.PushProgress):
            self._show(self.push)
            step = (event.current * _PUSH_STEPS // event.total) if event.total else 0
            if step != self.push.value:
                self.push.value = min(step, _PUSH_STEPS)
        elif isinstance(event, ev.ImageReady):
            for bar in (self.build, self.push):
                if bar.layout.display != "none":
                    bar.value = bar.max
                    bar.bar_style = "success"
            self._say(event.message)
        elif isinstance(event, (ev.JobSubmitted, ev.JobFailedToSubmit)):
            self._show(self.submit)
            self._submitted += 1
            with self.submit.hold_sync():
                self.submit.max = max(event.total, 1)
                self.submit.value = min(self._submitted, self.submit.max)
                self.submit.description = f"jobs {self._submitted}/{event.total}"
                if isinstance(event, ev.JobFailedToSubmit):
                    self.failures.append(event.message)
                    self.submit.bar_style = "danger"
                elif self._submitted >= event.total and not self.failures:
                    self.submit.bar_style = "success"
            if isinstance(event, ev.JobFailedToSubmit):
                self._say(event.message, error=True)
        elif isinstance(event, ev.Warning_):
            self._say(event.message, error=True)
        elif isinstance(event, ev.Info):
            self._say(event.message)
        # BuildOutput and JobStateChanged are deliberately not rendered here.

    def fail(self, message: str) -> None:
        """Mark the bars that are under way as failed (the form shows the message)."""
        with self._lock:
            for bar in (self.build, self.push, self.submit):
                if bar.layout.display != "none" and bar.bar_style != "success":
                    bar.bar_style = "danger"

    @staticmethod
    def _show(bar: w.IntProgress) -> None:
        if bar.layout.display == "none":
            bar.layout.display = None

    def _say(self, text: str, *, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

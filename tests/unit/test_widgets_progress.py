"""Submission progress bars fed by pipeline events."""

from __future__ import annotations

from caliban_jupyter import events as ev
from caliban_jupyter.widgets.progress import SubmissionProgress


def test_bars_follow_build_push_and_submission_events():
    p = SubmissionProgress()
    assert all(b.layout.display == "none" for b in (p.build, p.push, p.submit))
    p(ev.BuildStep(2, 5, "RUN pip install ."))
    assert (p.build.value, p.build.max, p.build.layout.display) == (2, 5, None)
    p(ev.BuildOutput("Collecting numpy"))  # not rendered: bars, not log spam
    assert p.status.value == ""
    p(ev.PushProgress(250, 1000))
    assert p.push.value == 250
    p(ev.ImageReady("127.0.0.1:5000/x:abc", built=True, pushed=True))
    assert p.build.value == p.build.max and p.build.bar_style == "success"
    assert "127.0.0.1:5000/x:abc" in p.status.value
    for i in (1, 2):
        p(ev.JobSubmitted(i, 3, f"job_{i}", f"r/{i}", "http://127.0.0.1/x"))
    p(ev.JobFailedToSubmit(3, 3, "job_3", "quota exceeded"))
    assert (p.submit.value, p.submit.max) == (3, 3)
    assert p.submit.bar_style == "danger"
    assert p.failures == ["NOT submitted job_3 (3/3): quota exceeded"]
    assert "quota exceeded" in p.status.value


def test_push_progress_sends_only_visible_steps():
    p = SubmissionProgress()
    p(ev.PushProgress(1, 10**9))
    p(ev.PushProgress(2, 10**9))  # same thousandth: no change
    assert p.push.value == 0
    p(ev.PushProgress(10**9, 10**9))
    assert p.push.value == 1000


def test_fail_marks_unfinished_bars():
    p = SubmissionProgress()
    p(ev.BuildStep(1, 4, "FROM base"))
    p.fail("step 2 failed")
    assert p.build.bar_style == "danger"
    assert p.submit.bar_style == ""

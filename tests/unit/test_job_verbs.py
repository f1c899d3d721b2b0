"""Verbs on one named job (stop it, follow its log) and the stop confirmation, against the
in-memory backend of support/fakes.py (it follows the Backend protocol)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from support.fakes import FakeBackend, specs

from caliban_jupyter.ask import make_confirm
from caliban_jupyter.errors import NotFoundError, UsageError
from caliban_jupyter.history import History
from caliban_jupyter.service.submit import submit_sweep
from caliban_jupyter.service.track import follow_logs, stop_job


class GrowingLogs(FakeBackend):
    """Each job's log grows by one line per poll; the job ends after ``lines`` lines."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines
        self.written: dict[str, int] = {}

    def grow(self) -> None:
        for name, job in self.jobs.items():
            n = self.written[name] = self.written.get(name, 0) + 1
            job["state"] = "JOB_STATE_RUNNING"
            if n >= self.lines:
                job["state"] = "JOB_STATE_SUCCEEDED"

    def logs(self, resource_name: str, tail: int | None = None) -> str:
        self.calls["logs"] += 1
        return "".join(f"line {i}\n" for i in range(1, self.written.get(resource_name, 0) + 1))


def test_follow_prints_each_new_line_once_until_the_job_ends(history: History) -> None:
    backend = GrowingLogs(lines=5)
    submit_sweep(specs(1), backend, history, xgroup="g1")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        backend.grow()

    chunks = list(follow_logs("job_1", backend=backend, history=history, poll=0.5,
                              sleep=sleep))
    assert "".join(chunks) == "".join(f"line {i}\n" for i in range(1, 6))
    assert all(c.count("\n") == 1 for c in chunks)  # one new line per poll, never repeated
    assert sleeps == [0.5] * 5  # it waited between polls, and stopped once SUCCEEDED
    assert history.jobs("g1")[0].state == "SUCCEEDED"  # what it saw is recorded


def test_follow_starts_from_the_tail_and_a_finished_job_is_printed_once(
        history: History) -> None:
    backend = GrowingLogs(lines=4)
    submit_sweep(specs(1), backend, history, xgroup="g1")
    for _ in range(4):
        backend.grow()
    assert list(follow_logs("job_1", backend=backend, history=history, tail=2,
                            sleep=lambda s: pytest.fail("a finished job needs no poll"))) \
        == ["line 3\nline 4\n"]
    assert list(follow_logs("job_1", backend=backend, history=history, tail=0,
                            sleep=lambda s: None)) == []
    with pytest.raises(UsageError, match="--tail"):
        next(follow_logs("job_1", backend=backend, history=history, tail=-1))
    with pytest.raises(NotFoundError, match="no submitted job named 'nope'"):
        next(follow_logs("nope", backend=backend, history=history))


def test_follow_can_be_closed_while_the_job_runs(history: History) -> None:
    backend = GrowingLogs(lines=1000)
    submit_sweep(specs(1), backend, history, xgroup="g1")
    chunks = follow_logs("job_1", backend=backend, history=history,
                         sleep=lambda s: backend.grow())
    assert [next(chunks), next(chunks)] == ["line 1\n", "line 2\n"]
    chunks.close()  # what Ctrl-C does in `caliban logs --follow`
    assert backend.calls["cancel"] == 0


def test_stop_one_job_by_name(history: History) -> None:
    backend = FakeBackend()
    submit_sweep(specs(3), backend, history, xgroup="g1")
    events: list[Any] = []
    assert stop_job("job_2", backend=backend, history=history, dry_run=True)[0].index == 2
    assert backend.calls["cancel"] == 0
    [stopped] = stop_job("job_2", backend=backend, history=history, progress=events.append)
    assert stopped.display_name == "job_2" and stopped.state == "CANCELLED"
    assert backend.calls["cancel"] == 1
    assert [r.state for r in history.jobs("g1")] == ["QUEUED", "CANCELLED", "QUEUED"]
    assert stop_job("job_2", backend=backend, history=history, progress=events.append) == []
    assert "already CANCELLED: nothing to stop" in events[-1].message
    assert backend.calls["cancel"] == 1
    with pytest.raises(NotFoundError, match="no submitted job named 'job_9'"):
        stop_job("job_9", backend=backend, history=history)
    with pytest.raises(UsageError, match="name the job"):
        stop_job("", backend=backend, history=history)


def _jobs(history: History, n: int) -> list[Any]:
    submit_sweep(specs(n), FakeBackend(), history, xgroup="g1")
    return history.jobs("g1")


def test_confirm_through_an_input_function(history: History) -> None:
    jobs = _jobs(history, 2)
    out = io.StringIO()
    asked: list[str] = []
    confirm = make_confirm(False, stdout=out, ask=lambda q: asked.append(q) or "y", least=1)
    assert confirm(jobs[:1]) is True and asked == ["Stop this job? [y/N] "]
    assert "job_1" in out.getvalue()  # the jobs are listed before the question
    assert make_confirm(False, stdout=out, ask=lambda q: "n")(jobs) is False

    def no_input(question: str) -> str:
        raise NotImplementedError("raw_input was called, but this frontend does not "
                                  "support input requests.")

    refuse = make_confirm(False, stdout=out, ask=no_input, least=1,
                          refusal="pass --xgroup g1 or --yes")
    with pytest.raises(UsageError, match="nobody can answer here; pass --xgroup g1 or --yes"):
        refuse(jobs[:1])
    assert make_confirm(True, ask=no_input, least=1)(jobs) is True
    # The CLI's default: one job needs no question, several do.
    tty_less = make_confirm(False, stdin=io.StringIO(""), stdout=out)
    assert tty_less(jobs[:1]) is True
    with pytest.raises(UsageError, match="stdin is not a terminal; pass --yes"):
        tty_less(jobs)


def test_stop_with_no_group_takes_this_sessions_newest_or_asks(
        history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    from caliban_jupyter.errors import BuildError, SubmissionError
    from caliban_jupyter.notebook import session

    monkeypatch.setattr(session, "_fallback", session.Caliban())
    submit_sweep(specs(1, "mine"), FakeBackend(), history, xgroup="mine")
    submit_sweep(specs(1, "theirs"), FakeBackend(), history, xgroup="theirs")
    assert history.latest_groups(1)[0].xgroup == "theirs"  # newest in the shared history

    # Nothing submitted here yet: the newest group is a guess, so it asks.
    group, confirm = session.default_stop_group(history, say=lambda e: None)
    assert group == "theirs" and confirm is not None

    def no_input(prompt: str = "") -> str:
        raise NotImplementedError("this frontend does not support input requests")

    monkeypatch.setattr("builtins.input", no_input)
    with pytest.raises(UsageError, match=r"--xgroup theirs.*--yes"):
        confirm(history.jobs("theirs"))
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    assert confirm(history.jobs("theirs")) is True
    assert session.default_stop_group(history, yes=True, say=lambda e: None) == (
        "theirs", None)

    # A build that failed created no job: the group is not this session's.
    with pytest.raises(BuildError), session.submitting("never"):
        raise BuildError("step 1 failed")
    # A sweep partly submitted, or submitted, is.
    with pytest.raises(SubmissionError), session.submitting("partly"):
        raise SubmissionError("2 of 3 jobs were not submitted")
    with session.submitting("mine"):
        pass
    assert session.get_config().submitted_groups == ["partly", "mine"]
    assert session.default_stop_group(history, say=lambda e: None) == ("mine", None)

"""JobGroup, the one handle on a submitted group, against the in-memory backend of
support/fakes.py (it follows the Backend protocol; the Google boundary is the only fake)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakes import FakeBackend, specs

from caliban_jupyter.errors import NotFoundError
from caliban_jupyter.history import History
from caliban_jupyter.records import JobRecord
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.service.submit import submit_sweep


class CountingHistory(History):
    """Counts how often a group's jobs are read from SQLite."""

    reads = 0

    def jobs(self, xgroup: str, *, limit: int | None = None) -> list[JobRecord]:
        self.reads += 1
        return super().jobs(xgroup, limit=limit)


@pytest.fixture
def history(tmp_path: Path) -> CountingHistory:
    with CountingHistory(tmp_path / "h.sqlite") as h:
        yield h


def submitted(history: History, n: int = 3) -> FakeBackend:
    backend = FakeBackend()
    submit_sweep(specs(n), backend, history, xgroup="g1")
    return backend


def set_state(backend: FakeBackend, index: int, state: str) -> None:
    for job in backend.jobs.values():
        if job["labels"]["caliban_index"] == str(index):
            job["state"] = f"JOB_STATE_{state}"


def test_a_refresh_is_one_listing_and_one_history_read(history: CountingHistory) -> None:
    backend = submitted(history)
    set_state(backend, 2, "RUNNING")
    group = JobGroup("g1", backend=backend, history=history)
    backend.calls.clear()
    history.reads = 0
    records = group.refresh()
    assert backend.calls == {"list": 1} and history.reads == 1
    assert [r.state for r in records] == ["QUEUED", "RUNNING", "QUEUED"]
    # What it returns is what the history now holds, in the history's order.
    assert records == history.jobs("g1")
    assert group.counts() == {"QUEUED": 2, "RUNNING": 1} and group.refreshes == 1


def test_stop_of_some_jobs_cancels_only_their_running_attempts(history: History) -> None:
    backend = submitted(history, 4)
    set_state(backend, 4, "SUCCEEDED")
    group = JobGroup("g1", backend=backend, history=history)
    group.refresh()
    stopped = group.stop([group.records[1], 3, group.records[3]])
    assert sorted(r.index for r in stopped) == [2, 3]  # job 4 had finished already
    assert backend.calls["cancel"] == 2
    assert [r.state for r in group.records] == ["QUEUED", "CANCELLED", "CANCELLED",
                                                "SUCCEEDED"]
    assert group.stop([1], dry_run=True)[0].index == 1 and backend.calls["cancel"] == 2


def test_a_refused_confirmation_stops_nothing(history: History) -> None:
    backend = submitted(history, 2)
    group = JobGroup("g1", backend=backend, history=history)
    asked: list[list[JobRecord]] = []
    assert group.stop(confirm=lambda jobs: bool(asked.append(jobs))) == []
    assert len(asked[0]) == 2 and backend.calls["cancel"] == 0


def test_resubmitted_jobs_are_counted_once(history: History) -> None:
    backend = submitted(history, 3)
    set_state(backend, 1, "FAILED")
    set_state(backend, 2, "SUCCEEDED")
    set_state(backend, 3, "SUCCEEDED")
    group = JobGroup("g1", backend=backend, history=history)
    new = group.resubmit()
    assert [r.index for r in new] == [1] and new[0].display_name == "job_1-retry1"
    assert len(group.attempts) == 4 and len(group.records) == 3
    assert group.counts() == {"QUEUED": 1, "SUCCEEDED": 2}
    # Nothing left to resubmit: the retry is the job's latest attempt.
    assert group.resubmit() == []
    again = group.resubmit([2])  # named jobs are resubmitted whatever their state
    assert [r.display_name for r in again] == ["job_2-retry1"]
    assert [r.display_name for r in group.records] == ["job_1-retry1", "job_2-retry1",
                                                       "job_3"]


def test_logs_by_record_index_or_name_and_of_a_never_submitted_job(history: History) -> None:
    backend = submitted(history, 2)
    group = JobGroup("g1", backend=backend, history=history)
    group.refresh()
    name = group.records[1].resource_name
    assert group.logs(2) == group.logs("job_2") == group.logs(group.records[1]) \
        == f"log of {name}\n"
    never = group.records[0].evolve(resource_name=None, state="NOT_SUBMITTED",
                                    error="quota")
    with pytest.raises(NotFoundError, match="job_1 was never submitted \\(quota\\)"):
        group.logs(never)
    with pytest.raises(NotFoundError, match="no job 'job_9' in experiment group 'g1'"):
        group.logs("job_9")


def test_wait_refreshes_until_done_and_times_out_with_the_summary(history: History) -> None:
    backend = submitted(history, 2)
    group = JobGroup("g1", backend=backend, history=history)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        if len(slept) == 2:  # the jobs end while the waiter sleeps
            set_state(backend, 1, "SUCCEEDED")
            set_state(backend, 2, "FAILED")

    done = group.wait(poll=5, sleep=sleep, clock=lambda: now[0])
    assert [r.state for r in done] == ["SUCCEEDED", "FAILED"]
    assert slept == [5, 5] and group.refreshes == 3

    backend2 = submitted(history, 1)
    set_state(backend2, 1, "RUNNING")
    waiting = JobGroup("g1", backend=backend2, history=history)
    now[0] = 0.0
    with pytest.raises(TimeoutError, match="not finished after 7 s \\(1 RUNNING"):
        waiting.wait(7, poll=5, sleep=lambda s: now.__setitem__(0, now[0] + s),
                     clock=lambda: now[0])


def test_close_closes_only_a_history_the_group_opened(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    given = History(tmp_path / "given.sqlite")
    with JobGroup("g", history=given) as group:
        group.recorded()
    given.group_names()  # still open

    owned = JobGroup("g")
    opened = owned.history
    owned.close()
    with pytest.raises(Exception, match="closed"):
        opened.group_names()


def test_of_job_finds_the_group_and_open_picks_the_newest(history: History) -> None:
    backend = submitted(history, 2)
    group, record, name = JobGroup.of_job("job_2", backend=backend, history=history)
    assert group.xgroup == "g1" and record is not None and record.index == 2
    assert name == record.resource_name
    assert JobGroup.open(history=history, backend=backend).xgroup == "g1"
    with pytest.raises(NotFoundError, match="no submitted job named 'job_9'"):
        JobGroup.of_job("job_9", backend=backend, history=history)

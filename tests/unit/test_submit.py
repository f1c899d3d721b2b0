"""Sweep submission (exactly once, retries, rate limit) and tracking, against an in-memory
backend that follows the Backend protocol and fails on a script (support.fakes).

The real service path (SDK + emulator) is covered in tests/integration/test_faults.py.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from support.fakes import FakeBackend, specs

from caliban_jupyter.backends.base import Backend, RetryPolicy
from caliban_jupyter.errors import LabelError, NotFoundError, UsageError
from caliban_jupyter.history import History
from caliban_jupyter.records import INDEX_LABEL, SID_LABEL
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.submit import (
    RegionLimiter,
    SweepSubmissionError,
    TokenBucket,
    submit_sweep,
)


def fast(max_attempts: int = 8) -> RetryPolicy:
    """Backoff that does not sleep (the delays are still computed)."""
    return RetryPolicy(max_attempts=max_attempts, sleep=lambda s: None, rng=random.Random(0))


def test_fake_backend_follows_the_protocol() -> None:
    assert isinstance(FakeBackend(), Backend)


def test_exactly_once_under_random_faults(history: History) -> None:
    rng = random.Random(7)
    lock = threading.Lock()

    def faults(kind: str) -> str | None:
        with lock:
            r = rng.random()
        if kind == "create":
            return "429" if r < 0.1 else "503" if r < 0.2 else "drop" if r < 0.3 else None
        return "503" if r < 0.1 else None

    backend = FakeBackend(faults)
    records = submit_sweep(specs(200), backend, history, xgroup="g1",
                           retry=fast(12))
    sids = Counter(j["labels"][SID_LABEL] for j in backend.jobs.values())
    assert len(backend.jobs) == 200 and set(sids.values()) == {1}
    assert {r.submission_id for r in records} == set(sids)
    assert all(r.state == "QUEUED" and r.resource_name for r in records)
    assert [r.index for r in records] == list(range(1, 201))
    assert backend.calls["create"] > 200  # faults really happened
    assert [r.state for r in history.jobs("g1")] == ["QUEUED"] * 200


def test_dropped_create_is_found_not_repeated(history: History) -> None:
    answers = iter(["drop"])
    backend = FakeBackend(lambda kind: next(answers, None) if kind == "create" else None)
    [record] = submit_sweep(specs(1), backend, history, xgroup="g1",
                            retry=fast())
    assert backend.calls["create"] == 1 and len(backend.jobs) == 1
    assert record.resource_name in backend.jobs


def test_429_is_retried_without_lookup(history: History) -> None:
    answers = iter(["429", "429"])
    backend = FakeBackend(lambda kind: next(answers, None) if kind == "create" else None)
    submit_sweep(specs(1), backend, history, xgroup="g1", retry=fast(),
                 verify=False)
    assert backend.calls == Counter(create=3)


def test_permanent_error_records_not_submitted_and_says_resubmit(history: History) -> None:
    backend = FakeBackend(lambda kind: "400" if kind == "create" else None)
    events: list[Any] = []
    with pytest.raises(SweepSubmissionError) as info:
        submit_sweep(specs(3), backend, history, xgroup="g1", progress=events.append,
                     retry=fast())
    message = str(info.value)
    assert "3 of 3 jobs" in message and "caliban resubmit --xgroup g1" in message
    assert "n1-bogus is not supported" in message
    assert backend.calls["create"] == 3  # a 400 is not retried
    stored = history.jobs("g1")
    assert [r.state for r in stored] == ["NOT_SUBMITTED"] * 3
    assert all("n1-bogus" in (r.error or "") for r in stored)
    assert [type(e).__name__ for e in events].count("JobFailedToSubmit") == 3


def test_giving_up_after_transient_errors(history: History) -> None:
    backend = FakeBackend(lambda kind: "429" if kind == "create" else None)
    with pytest.raises(SweepSubmissionError) as info:
        submit_sweep(specs(2), backend, history, xgroup="g1",
                     retry=fast(3))
    assert backend.calls["create"] == 6
    assert all("gave up after 3 attempts" in (r.error or "") for r in info.value.records)


def test_every_job_is_recorded_before_it_is_created(history: History) -> None:
    backend = FakeBackend()
    seen: list[str] = []

    def check(body: dict[str, Any]) -> None:
        stored = history.job(body["labels"][SID_LABEL])
        assert stored is not None
        seen.append(stored.state)

    backend.on_create = check
    submit_sweep(specs(5), backend, history, xgroup="g1", max_workers=1)
    assert seen == ["NOT_SUBMITTED"] * 5


def test_interrupted_sweep_records_every_job_it_created(history: History) -> None:
    """Ctrl-C during a sweep: creates in flight finish and are recorded as submitted, the
    rest stay NOT_SUBMITTED, and resubmit completes the group with no duplicate."""
    backend = FakeBackend()
    backend.on_create = lambda body: time.sleep(0.05)
    events: list[Any] = []

    def progress(event: Any) -> None:
        events.append(event)
        if type(event).__name__ == "JobSubmitted":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        submit_sweep(specs(12), backend, history, xgroup="g1", progress=progress,
                     max_workers=3)
    created = set(backend.jobs)
    recorded = {r.resource_name for r in history.jobs("g1") if r.is_submitted}
    assert 0 < len(created) < 12 and recorded == created
    # The submission ended: other processes must not read its jobs as a create under way.
    from caliban_jupyter.service.submit import INTERRUPTED_REASON
    assert {r.error for r in history.jobs("g1") if not r.is_submitted} == {INTERRUPTED_REASON}
    warning = events[-1].message
    assert f"{len(created)} of 12 jobs" in warning and "caliban resubmit --xgroup g1" in warning
    tracking.resubmit("g1", backend=backend, history=history)
    latest = tracking.latest_attempts(history.jobs("g1"))
    assert len(backend.jobs) == 12 and all(r.is_submitted for r in latest)


@pytest.mark.parametrize("rate", [0, -1.0, float("nan")])
def test_resubmit_with_a_rate_that_lets_nothing_through_changes_nothing(
        history: History, rate: float) -> None:
    backend = FakeBackend(lambda kind: "400" if kind == "create" else None)
    with pytest.raises(SweepSubmissionError):
        submit_sweep(specs(2), backend, history, xgroup="g1")
    before = history.jobs("g1")
    with pytest.raises(UsageError, match="positive number"):
        tracking.resubmit("g1", backend=backend, history=history, rate_per_minute=rate)
    with pytest.raises(UsageError, match="positive number"):
        submit_sweep(specs(1, "g2"), backend, history, xgroup="g2", rate_per_minute=rate)
    assert history.jobs("g1") == before and history.group("g2") is None


def test_verify_adopts_a_job_created_behind_a_failure(history: History) -> None:
    # The create commits but every answer (and every look-up) fails: the sweep thinks the
    # job failed, the final listing of the group finds it.
    state = {"listing": False}

    def faults(kind: str) -> str | None:
        if kind == "create":
            return "drop"
        return None if state["listing"] else "503"

    backend = FakeBackend(faults)
    original = backend.list_group

    def list_group(xgroup: str) -> Any:
        state["listing"] = True
        return original(xgroup)

    backend.list_group = list_group  # type: ignore[method-assign]
    [record] = submit_sweep(specs(1), backend, history, xgroup="g1",
                            retry=fast(1))
    assert record.state == "QUEUED" and len(backend.jobs) == 1
    assert history.jobs("g1")[0].resource_name == record.resource_name


def test_verify_cancels_a_duplicate(history: History) -> None:
    # A create still in flight when we looked: the look-up says "absent", we create again.
    answers = iter(["drop"])
    backend = FakeBackend(lambda kind: next(answers, None) if kind == "create" else None)
    original = backend.find_by_submission_id
    lookups: list[str] = []

    def find(sid: str) -> dict[str, Any] | None:
        lookups.append(sid)
        return None if len(lookups) == 1 else original(sid)  # the first look is too early

    backend.find_by_submission_id = find  # type: ignore[method-assign]
    [record] = submit_sweep(specs(1), backend, history, xgroup="g1",
                            retry=fast())
    states = sorted(j["state"] for j in backend.jobs.values())
    assert states == ["JOB_STATE_CANCELLED", "JOB_STATE_QUEUED"]
    assert backend.jobs[str(record.resource_name)]["state"] == "JOB_STATE_QUEUED"
    # A refresh shows one job, not the cancelled duplicate.
    assert [r.state for r in tracking.refresh_group("g1", backend, history)] == ["QUEUED"]


def test_labels_added(history: History) -> None:
    backend = FakeBackend()
    records = submit_sweep(specs(2), backend, history, xgroup="g1")
    for r in records:
        assert r.labels[INDEX_LABEL] == str(r.index)
        assert len(r.labels[SID_LABEL]) == 32 and r.labels[SID_LABEL] == r.submission_id
        assert r.request["labels"] == r.labels


def test_too_many_labels_is_refused_before_anything_is_sent(history: History) -> None:
    spec = specs(1)[0]
    spec = spec.with_labels({f"k{i}": "v" for i in range(62)})
    backend = FakeBackend()
    with pytest.raises(LabelError, match="caliban_sid"):
        submit_sweep([spec], backend, history, xgroup="g1")
    assert backend.calls["create"] == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_spaces_jobs_to_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, burst=1, clock=clock, sleep=clock.sleep)  # 2 jobs a second
    for _ in range(10):
        bucket.acquire()
    assert clock.now == pytest.approx(4.5)


def test_token_bucket_allows_a_burst_then_refills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, burst=5, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0] * 5
    assert bucket.acquire() == pytest.approx(1.0)
    clock.now += 100  # idle: refills to the burst size, no more
    assert [bucket.acquire() for _ in range(5)] == [0.0] * 5
    assert bucket.acquire() > 0


def test_region_limiter_keeps_one_bucket_per_region() -> None:
    clock = FakeClock()
    limiter = RegionLimiter(60, burst=1, clock=clock, sleep=clock.sleep)
    limiter.acquire("us-central1")
    limiter.acquire("europe-west4")
    assert clock.now == 0.0
    limiter.acquire("us-central1")
    assert clock.now == pytest.approx(1.0)
    RegionLimiter(None).acquire("anywhere")  # unlimited: no bucket, no wait


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4.0, rng=random.Random(1))
    delays = [policy.delay(a) for a in range(10) for _ in range(20)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100
    assert max(policy.delay(0) for _ in range(100)) <= 0.5


# -- tracking over the fake backend ------------------------------------------------------

def test_refresh_rebuilds_a_group_from_labels_alone(tmp_path: Any) -> None:
    backend = FakeBackend(page_size=7)
    with History(tmp_path / "a.sqlite") as first:
        submit_sweep(specs(20), backend, first, xgroup="g1")
    for job in list(backend.jobs.values())[:5]:
        job["state"] = "JOB_STATE_FAILED"
        job["error"] = {"code": 3, "message": "exit status 1"}
    backend.calls.clear()
    with History(tmp_path / "b.sqlite") as other:
        records = tracking.refresh_group("g1", backend, other)
        assert backend.calls == Counter(list=3)  # 20 jobs, 7 a page, no per-job get
        assert other.group("g1") is not None
        assert len(records) == 20 and [r.index for r in records] == list(range(1, 21))
        assert Counter(r.state for r in records) == Counter(QUEUED=15, FAILED=5)
        assert records[0].error == "exit status 1"
        assert records[0].args == ("--i", "1")


def test_failed_refresh_keeps_recorded_states(history: History) -> None:
    backend = FakeBackend()
    submit_sweep(specs(3), backend, history, xgroup="g1")
    backend.faults = lambda kind: "503"
    events: list[Any] = []
    records = tracking.status("g1", backend=backend, history=history, progress=events.append)
    assert [r.state for r in records] == ["QUEUED"] * 3
    assert any("could not refresh" in e.message for e in events)
    backend.faults = lambda kind: None
    for job in backend.jobs.values():
        job["state"] = "JOB_STATE_SUCCEEDED"
    assert [r.state for r in tracking.status("g1", backend=backend, history=history)] == \
        ["SUCCEEDED"] * 3


def test_status_of_unknown_group_says_what_to_check(history: History) -> None:
    with pytest.raises(NotFoundError, match="--project_id"):
        tracking.status("nope", backend=FakeBackend(), history=history)


def test_stop_cancels_only_running_jobs_and_asks(history: History) -> None:
    backend = FakeBackend()
    submit_sweep(specs(3), backend, history, xgroup="g1")
    first = next(iter(backend.jobs.values()))
    first["state"] = "JOB_STATE_SUCCEEDED"
    assert len(tracking.stop("g1", backend=backend, history=history, dry_run=True)) == 2
    assert backend.calls["cancel"] == 0
    asked: list[int] = []

    def refuse(jobs: list[Any]) -> bool:
        asked.append(len(jobs))
        return False

    assert tracking.stop("g1", backend=backend, history=history, confirm=refuse) == []
    assert asked == [2] and backend.calls["cancel"] == 0
    stopped = tracking.stop("g1", backend=backend, history=history, confirm=lambda j: True)
    assert len(stopped) == 2 and backend.calls["cancel"] == 2
    assert [r.state for r in history.jobs("g1")] == ["SUCCEEDED", "CANCELLED", "CANCELLED"]


def test_resubmit_reruns_failed_and_not_submitted_once(history: History) -> None:
    answers = iter(["400"])
    backend = FakeBackend(lambda kind: next(answers, None) if kind == "create" else None)
    with pytest.raises(SweepSubmissionError):
        submit_sweep(specs(3), backend, history, xgroup="g1", max_workers=1)
    failed = next(j for j in backend.jobs.values() if j["displayName"] == "job_2")
    failed["state"] = "JOB_STATE_FAILED"
    dry = tracking.resubmit("g1", backend=backend, history=history, dry_run=True)
    assert sorted(r.display_name for r in dry) == ["job_1-retry1", "job_2-retry1"]
    assert len(backend.jobs) == 2
    new = tracking.resubmit("g1", backend=backend, history=history)
    assert sorted(r.display_name for r in new) == ["job_1-retry1", "job_2-retry1"]
    assert len(backend.jobs) == 4
    by_name = {r.display_name: r for r in new}
    assert by_name["job_2-retry1"].image_uri == "127.0.0.1:5000/img@sha256:abc"
    assert by_name["job_2-retry1"].args == ("--i", "2")
    assert by_name["job_2-retry1"].labels["xgroup"] == "g1"
    assert {r.submission_id for r in new}.isdisjoint(
        {r.submission_id for r in history.jobs("g1")[:0]})
    # Nothing left to resubmit: the latest attempt of every index is fine.
    assert tracking.resubmit("g1", backend=backend, history=history) == []
    assert len(tracking.resubmit("g1", backend=backend, history=history, all_jobs=True)) == 3


def test_logs_by_display_name(history: History) -> None:
    backend = FakeBackend()
    [record] = submit_sweep(specs(1), backend, history, xgroup="g1")
    assert tracking.logs("job_1", backend=backend, history=history) == \
        f"log of {record.resource_name}\n"
    with pytest.raises(NotFoundError, match="caliban status"):
        tracking.logs("job_9", backend=backend, history=history)


@pytest.mark.parametrize("call,match", [
    (lambda h: tracking.status("g1", backend=FakeBackend(), history=h, max_jobs=-1),
     "--max_jobs takes a whole number of at least 1, not -1"),
    (lambda h: tracking.status(backend=FakeBackend(), history=h, max_groups=0),
     "--max_groups takes a whole number of at least 1, not 0"),
    (lambda h: tracking.status(backend=FakeBackend(), history=h, max_jobs="3"),
     "--max_jobs takes a whole number"),
    (lambda h: tracking.logs(None, backend=FakeBackend(), history=h), "name the job"),
    (lambda h: tracking.logs(5, backend=FakeBackend(), history=h), "name the job"),
    (lambda h: tracking.logs("job_1", backend=FakeBackend(), history=h, tail=-5),
     "--tail takes a whole number of at least 0"),
])
def test_tracking_arguments_are_checked(history: History, call: Any, match: str) -> None:
    """Values a front end passes through unchecked are one UsageError, never a slice of
    the wrong jobs or a TypeError."""
    submit_sweep(specs(2), FakeBackend(), history, xgroup="g1")
    with pytest.raises(UsageError, match=match):
        call(history)

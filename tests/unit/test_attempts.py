"""Each job counted once, by its latest attempt, wherever a group is summarized.

The shape of the reported bug, in small: a group whose submission left jobs NOT_SUBMITTED,
completed by `caliban resubmit`, all succeeded. Its summaries said "N + retries jobs
(retries NOT_SUBMITTED, N SUCCEEDED)". The tracking layer runs against the in-memory
backend of support/fakes.py (it follows the Backend protocol).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.fakes import FakeBackend, specs

from caliban_jupyter.history import History
from caliban_jupyter.notebook.sweep import Sweep
from caliban_jupyter.records import latest_attempts, state_counts, state_summary
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.service.submit import SweepSubmissionError, submit_sweep
from caliban_jupyter.settings import resolve_settings
from caliban_jupyter.tables import render_table
from caliban_jupyter.widgets import _rows


def _succeed_all(backend: FakeBackend) -> None:
    for job in backend.jobs.values():
        job["state"] = "JOB_STATE_SUCCEEDED"


@pytest.fixture
def retried(tmp_path: Path) -> tuple[FakeBackend, History]:
    """Group g1 of 6 jobs: 4 refused at submission (NOT_SUBMITTED), then resubmitted; every
    job that ran SUCCEEDED. The history holds 10 records for 6 jobs."""
    refused = iter(["400"] * 4)
    backend = FakeBackend(lambda kind: next(refused, None) if kind == "create" else None)
    history = History(tmp_path / "h.sqlite")
    with pytest.raises(SweepSubmissionError):
        submit_sweep(specs(6), backend, history, xgroup="g1", max_workers=1)
    assert [r.state for r in history.jobs("g1")].count("NOT_SUBMITTED") == 4
    _succeed_all(backend)
    assert len(tracking.resubmit("g1", backend=backend, history=history)) == 4
    _succeed_all(backend)
    tracking.refresh_group("g1", backend, history)
    assert len(history.jobs("g1")) == 10  # the record keeps every attempt
    return backend, history


def test_status_counts_each_job_once(retried: tuple[FakeBackend, History]) -> None:
    backend, history = retried
    records = tracking.status("g1", backend=backend, history=history)
    assert [r.index for r in records] == [1, 2, 3, 4, 5, 6]
    assert state_counts(records) == {"SUCCEEDED": 6}
    assert sum(1 for line in render_table(records).splitlines() if "SUCCEEDED" in line) == 6
    everything = tracking.status("g1", backend=backend, history=history, all_attempts=True)
    assert len(everything) == 10 and state_counts(everything) == {"SUCCEEDED": 6}
    # Without --xgroup (the latest groups from the history) too.
    assert len(tracking.status(backend=backend, history=history)) == 6


def test_sweep_and_table_summaries_count_each_job_once(
        retried: tuple[FakeBackend, History]) -> None:
    _, history = retried
    attempts = history.jobs("g1")
    sweep = Sweep(JobGroup("g1", records=attempts, history=history,
                           settings=resolve_settings({"backend": "local"}, gpu=False)))
    assert len(sweep) == 6 and sweep.states == {"SUCCEEDED": 6} and sweep.done
    assert repr(sweep).startswith("Sweep g1: 6 jobs (6 SUCCEEDED) on local")
    assert "6 SUCCEEDED" in sweep._repr_html_() and "NOT_SUBMITTED" not in repr(sweep)
    assert [j.display_name for j in sweep] == [
        "job_1-retry1", "job_2-retry1", "job_3-retry1", "job_4-retry1", "job_5", "job_6"]
    assert _rows.summary_text(attempts) == "6 jobs: 6 SUCCEEDED (all finished)"
    assert state_summary(attempts) == "6 SUCCEEDED"


def test_the_latest_attempt_wins_in_a_group_rebuilt_from_labels(tmp_path: Path) -> None:
    """On another machine both attempts arrive in one listing; Vertex lists newest first.
    The job's state is its retry's, not the failed original's."""

    class NewestFirst(FakeBackend):
        def list_group(self, xgroup: str) -> Any:
            return iter(reversed(list(super().list_group(xgroup))))

    backend = NewestFirst()
    with History(tmp_path / "here.sqlite") as here:
        submit_sweep(specs(2), backend, here, xgroup="g1")
        for job in backend.jobs.values():
            job["state"] = "JOB_STATE_FAILED"
        tracking.resubmit("g1", backend=backend, history=here)
    _succeed_all(backend)
    for job in backend.jobs.values():
        if "retry" not in job["displayName"]:
            job["state"] = "JOB_STATE_FAILED"
    with History(tmp_path / "elsewhere.sqlite") as elsewhere:
        records = tracking.status("g1", backend=backend, history=elsewhere)
        assert [(r.display_name, r.state) for r in records] == [
            ("job_1-retry1", "SUCCEEDED"), ("job_2-retry1", "SUCCEEDED")]
        # And resubmit agrees: nothing left to rerun.
        assert tracking.resubmit("g1", backend=backend, history=elsewhere) == []


def test_latest_attempts_keeps_the_last_record_of_each_index() -> None:
    from support import job_record as record

    first, other, retry = record(1, "FAILED"), record(2), record(1, "QUEUED", attempt=1)
    assert latest_attempts([first, other, retry]) == [retry, other]
    assert state_counts([first, other, retry]) == {"RUNNING": 1, "QUEUED": 1}
    assert state_summary([]) == "no jobs"


def test_retry_specs_choose_latest_attempts_and_name_them_after_the_first(
        history: History) -> None:
    from caliban_jupyter.records import retry_specs

    sent = submit_sweep(specs(3), FakeBackend(), history, xgroup="g1")
    one, two, three = (r.evolve(state=s) for r, s in zip(sent, ("FAILED", "SUCCEEDED",
                                                              "CANCELLED"), strict=True))
    again = three.evolve(submission_id="sid-3b", display_name="job_3-retry1", state="FAILED")
    records = [one, two, three, again]
    chosen, retries = retry_specs(records, {1: {"i": 1}, 3: {"i": 3}})
    assert chosen == [one, again]  # the latest attempt of each job, only resubmittable ones
    assert [s.display_name for s in retries] == ["job_1-retry1", "job_3-retry2"]
    assert [s.experiment for s in retries] == [{"i": 1}, {"i": 3}]
    assert retries[0].args == one.args and retries[0].image_uri == one.image_uri
    assert retry_specs(records, {}, indices={2})[0] == [two]  # named: whatever its state
    assert len(retry_specs(records, {}, all_jobs=True)[0]) == 3
    long = one.evolve(display_name="x" * 128)
    [spec] = retry_specs([long], {})[1]
    assert len(spec.display_name) == 128 and spec.display_name.endswith("-retry1")

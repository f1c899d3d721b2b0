"""The live job table, driven by an in-memory source (no kernel, no backend)."""

from __future__ import annotations

import threading

import pytest
from support import job_record as record
from support import wait_for
from support.fakes import FakeSource

from caliban_jupyter.errors import UsageError
from caliban_jupyter.widgets._measure import recording_comms
from caliban_jupyter.widgets.table import JobTable


def test_rows_states_and_varying_columns():
    source = FakeSource([record(i) for i in (1, 2, 3)])
    table = JobTable(source, autostart=False)
    assert table.refresh() == 3
    assert source.calls == 1
    assert len(table.rows_box.children) == 3
    assert table.states() == {"RUNNING": 3}
    assert "<b>--lr</b>" in table.header.value and "<b>--epochs</b>" not in table.header.value
    assert "3 jobs: 3 RUNNING" in table.summary.value
    assert table.row(1).stop.disabled is False and table.row(1).resubmit.disabled is True


def test_only_changed_rows_are_sent():
    source = FakeSource([record(i) for i in range(1, 21)])
    with recording_comms() as log:
        table = JobTable(source, autostart=False)
        table.refresh()
        before = log.mark()
        assert table.refresh() == 0
        # Nothing changed: only the summary could be re-sent, and it is equal, so nothing.
        assert log.since(before) == []
        source.set(7, state="SUCCEEDED", ended="2024-05-01T10:03:00Z")
        before = log.mark()
        assert table.refresh() == 1
    sent_to = {comm_id for _, _, comm_id in log.since(before)}
    row7 = table.row(7)
    assert row7.cells.model_id in sent_to
    others = {table.row(i).cells.model_id for i in range(1, 21) if i != 7}
    assert not sent_to & others
    assert "caliban-state-SUCCEEDED" in row7.cells.value
    assert row7.stop.disabled is True


def test_latest_attempt_of_each_index_is_shown():
    source = FakeSource([record(1, "FAILED"), record(2, "SUCCEEDED"),
                         record(1, "RUNNING", attempt=1, display_name="job_1-retry1")])
    table = JobTable(source, autostart=False)
    table.refresh()
    assert [r.display_name for r in table.records] == ["job_1-retry1", "job_2"]


def test_background_refresh_stops_when_every_job_is_terminal():
    source = FakeSource([record(1), record(2)])
    table = JobTable(source, interval=0.01, max_interval=0.05)
    try:
        wait_for(lambda: source.calls >= 2, interval=0.01, what="two background refreshes")
        source.set(1, state="SUCCEEDED")
        source.set(2, state="FAILED")
        # `running` is the liveness of the one thread that lists: once it is False the
        # thread has returned, so no more listings come (no time window to watch).
        wait_for(lambda: not table.running, interval=0.01, what="the refresh thread to end")
        assert table.states() == {"SUCCEEDED": 1, "FAILED": 1}
        assert "(all finished)" in table.summary.value
    finally:
        table.close()


class _RecordingDelays(JobTable):
    def _wait(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= 6:
            self._closing.set()


def test_backs_off_while_nothing_changes_and_resets_on_change():
    source = FakeSource([record(1)])
    table = _RecordingDelays.__new__(_RecordingDelays)
    table.delays = []
    JobTable.__init__(table, source, autostart=False, interval=1.0, backoff=2.0,
                      max_interval=5.0)
    original = source.refresh

    def refresh():
        if source.calls == 3:
            source.set(1, state="PENDING" if source.records_[0].state == "RUNNING"
                       else "RUNNING")
        return original()

    source.refresh = refresh
    table._loop()
    # first refresh draws the row (a change), then 2, 4, then a change resets to 1
    assert table.delays[:5] == [1.0, 2.0, 4.0, 1.0, 2.0]
    assert source.calls == 6


def test_refresh_errors_are_shown_and_retried():
    source = FakeSource([record(1)])
    source.fail_next = True
    table = JobTable(source, interval=0.01, max_interval=0.02)
    try:
        wait_for(lambda: source.calls >= 2 and table.records, interval=0.01,
                 what="two background refreshes")
        assert any("HTTP 503" in e for e in table.errors)
    finally:
        table.close()


def test_row_and_group_actions():
    source = FakeSource([record(1), record(2), record(3, "FAILED"), record(4, "SUCCEEDED")])
    table = JobTable(source, autostart=False)
    table.refresh()
    table.stop(2)
    assert source.stopped == ["job_2"]
    wait_for(lambda: table.states().get("CANCELLED") == 1, interval=0.01,
             what="the row's job CANCELLED")
    assert table.records[0].state == "RUNNING"  # the other job is left alone
    text = table.show_logs(1)
    assert text.splitlines()[-1] == "job_1 line 39"
    assert table.log_view.layout.display is None and "job_1 line 39" in table.log_view.value
    table.resubmit()  # the group action: FAILED and CANCELLED jobs
    assert sorted(source.resubmitted) == ["job_2", "job_3"]
    assert table.records[2].display_name == "job_3-retry1"
    table.stop()
    assert sorted(source.stopped) == ["job_1", "job_2", "job_2-retry1", "job_3-retry1"]
    table.close()


@pytest.mark.parametrize("bad", [0, -1, 5, 99, "2", 1.0, True, [1]])
def test_an_index_naming_no_job_is_refused_and_nothing_is_done(bad):
    source = FakeSource([record(1), record(2), record(3, "FAILED"), record(4, "CANCELLED")])
    table = JobTable(source, autostart=False)
    table.refresh()
    for action in (table.stop, table.resubmit, table.show_logs, table.row):
        with pytest.raises(UsageError, match=r"job|index") as info:
            action(bad)
        assert "Traceback" not in str(info.value)
    assert source.stopped == [] and source.resubmitted == []
    assert table.states() == {"RUNNING": 2, "FAILED": 1, "CANCELLED": 1}
    assert sorted(table._rows) == [1, 2, 3, 4]  # no row was made for the bad index
    table.close()


def test_an_out_of_range_index_says_which_indices_exist():
    source = FakeSource([record(1), record(2)])
    table = JobTable(source, autostart=False)
    table.refresh()
    with pytest.raises(UsageError, match="numbered 1 to 2.*without an index"):
        table.stop(0)
    table.stop(numpy_like_int(2))  # integer types other than int are indices too
    assert source.stopped == ["job_2"]
    table.close()


class numpy_like_int:  # noqa: N801 - stands for numpy.int64 without importing numpy
    def __init__(self, value: int):
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_row_buttons_act_in_a_thread():
    source = FakeSource([record(1), record(2)])
    table = JobTable(source, autostart=False)
    table.refresh()
    main = threading.get_ident()
    seen = []
    stop = source.stop
    source.stop = lambda records: (seen.append(threading.get_ident()), stop(records))
    table.row(2).stop.click()
    wait_for(lambda: source.stopped, interval=0.01, what="the stop call")
    assert source.stopped == ["job_2"] and seen[0] != main
    table.close()


def test_pages_create_widgets_only_for_shown_rows():
    source = FakeSource([record(i) for i in range(1, 121)])
    table = JobTable(source, autostart=False, page_size=50)
    table.refresh()
    assert len(table.rows_box.children) == 50
    assert len(table._rows) == 50
    assert table.page_label.value == "page 1 of 3" and table.pager.layout.display is None
    table.next_page.click()
    assert table.rows_box.children[0] is table.row(51).box
    table.show_page(99)
    assert len(table.rows_box.children) == 20 and table.next_page.disabled


def test_a_sweep_or_a_name_gets_a_job_group(tmp_path):
    from caliban_jupyter.history import History
    from caliban_jupyter.notebook.sweep import Sweep
    from caliban_jupyter.service.groups import JobGroup
    from caliban_jupyter.widgets.table import source_for

    history = History(tmp_path / "h.sqlite")
    backend = object()
    src = source_for("my-group", history=history, backend=backend)
    assert isinstance(src, JobGroup) and src.xgroup == "my-group"
    assert src.history is history and src.backend is backend

    sweep = Sweep(JobGroup("sw", backend=backend))  # type: ignore[arg-type]
    src = source_for(sweep, history=history)
    assert src is sweep.group and src.xgroup == "sw" and src.backend is backend
    fake = FakeSource([record(1)])
    assert source_for(fake) is fake
    with pytest.raises(TypeError):
        source_for(42)

"""Pure rendering helpers of the job table."""

from __future__ import annotations

from support import job_record as record

from caliban_jupyter.widgets import _rows


def test_parse_args_flags_switches_and_positionals():
    assert _rows.parse_args(["--lr", "0.1", "--fast", "--k=v", "data.txt", "-n", "-3"]) == {
        "--lr": "0.1", "--fast": "", "--k": "v", "-n": "-3", "": "data.txt"}


def test_varying_keys_are_the_args_that_differ():
    records = [record(1, lr="0.1"), record(2, lr="0.2"),
               record(3, lr="0.2", args=("--lr", "0.2", "--epochs", "3", "--big"))]
    assert _rows.varying_keys(records) == ["--lr", "--big"]
    assert _rows.varying_keys([record(1)]) == []


def test_duration_of_finished_and_running_jobs():
    done = record(1, "SUCCEEDED", started="2024-05-01T10:00:05Z",
                  ended="2024-05-01T10:01:15.999999999Z")
    assert _rows.duration(done) == "1m 10s"
    long = record(1, "FAILED", ended="2024-05-01T12:30:05Z")
    assert _rows.duration(long) == "2h 30m"
    # A running job's elapsed time would change every refresh: it shows its start instead.
    assert _rows.duration(record(2, "RUNNING")).startswith("since ")
    assert _rows.duration(record(3, "QUEUED", started=None)) == ""


def test_row_html_is_a_pure_function_of_the_record():
    a, b = record(1, "FAILED"), record(1, "FAILED")
    assert _rows.row_html(a, ["--lr"]) == _rows.row_html(b, ["--lr"])
    html = _rows.row_html(record(1, "FAILED", display_name="<x>"), ["--lr", "--nope"])
    assert "caliban-state-FAILED" in html and "&lt;x&gt;" in html
    assert "<div>0.1</div>" in html and "—" in html
    assert 'href="http://127.0.0.1:8470/jobs/1"' in html
    assert "style=" not in html  # styles travel once, in the header


def test_summary_counts_states_attention_first():
    records = [record(1, "SUCCEEDED"), record(2, "RUNNING"), record(3, "SUCCEEDED")]
    assert _rows.summary_text(records) == "3 jobs: 1 RUNNING, 2 SUCCEEDED"
    done = [record(1, "SUCCEEDED"), record(2, "CANCELLED")]
    assert _rows.summary_text(done).endswith("(all finished)")
    assert _rows.summary_text([]) == "0 jobs"


def test_header_css_is_scoped_to_its_table():
    header = _rows.header_html(["--lr"], "caliban-t-1234")
    assert ".caliban-t-1234 .caliban-grid{display:grid" in header
    assert "<b>--lr</b>" in header

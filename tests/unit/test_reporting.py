"""What a user is told: a failed job's error in status and in the Sweep, progress as plain
lines when nobody watches a terminal, and a heads-up for a large build context."""

from __future__ import annotations

import io
import sys

import pytest
from support import job_record as record

from caliban_jupyter import events as ev
from caliban_jupyter.notebook.sweep import Sweep
from caliban_jupyter.packaging.docker import large_context_warning
from caliban_jupyter.progress import CellProgress, LineProgress, TqdmProgress, terminal_progress
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.settings import resolve_settings
from caliban_jupyter.tables import render_table

REASON = ("The replica workerpool0-0 exited with a non-zero status of 3. To find out more "
          "about why your job exited please check the logs")


# ---------------------------------------------------- item 5: a failed job says why

def test_status_table_shows_why_a_job_failed():
    text = render_table([record(1, "SUCCEEDED"), record(2, "FAILED", error=REASON)])
    lines = text.splitlines()
    failed = next(i for i, ln in enumerate(lines) if "job_2" in ln)
    assert "FAILED" in lines[failed]
    assert lines[failed + 1].split() == ["error:", *REASON.split()]
    assert not any("error:" in ln for ln in lines[:failed])  # the succeeded job has none


def test_sweep_text_and_html_show_why_a_job_failed():
    sweep = Sweep(JobGroup("g", records=[record(1, "SUCCEEDED"), record(2, "FAILED",
                                                                     error=REASON)],
                           settings=resolve_settings({"backend": "local"}, gpu=False, env={}),
                           backend=lambda: pytest.fail("no backend needed to display")))
    text = repr(sweep).splitlines()
    row = next(i for i, ln in enumerate(text) if ln.startswith("job_2"))
    assert text[row + 1] == f"    error: {REASON}"
    assert sum("error:" in ln for ln in text) == 1
    assert f"error: {REASON}" in sweep._repr_html_()


# ------------------------------------------- plain lines when nobody watches a terminal

EVENTS = [
    ev.Info("building img:1 (3 files, 0.1 MB context)"),
    ev.BuildStep(1, 2, "FROM base"), ev.BuildOutput("noise"),
    ev.BuildStep(2, 2, "RUN pip install"), ev.BuildStep(2, 2, "RUN pip install", cached=True),
    *(ev.PushProgress(n, 100) for n in range(0, 101, 5)),
    ev.ImageReady("img:1", built=True, pushed=True),
    ev.JobSubmitted(1, 2, "job_1", "r/1", "http://u/1"),
    ev.JobFailedToSubmit(2, 2, "job_2", "quota"),
    ev.Warning_("careful"),
]


def test_line_progress_prints_one_plain_line_per_step():
    out = io.StringIO()
    progress = LineProgress(out)
    for event in EVENTS:
        progress(event)
    assert out.getvalue().splitlines() == [
        "building img:1 (3 files, 0.1 MB context)",
        "build step 1/2: FROM base",
        "build step 2/2: RUN pip install",
        "push 0% of 0.0 MB", "push 25% of 0.0 MB", "push 50% of 0.0 MB",
        "push 75% of 0.0 MB", "push 100% of 0.0 MB",
        "image img:1: built and pushed",
        "submitted job_1 (1/2): http://u/1",
        "NOT submitted job_2 (2/2): quota",
        "warning: careful",
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_draws_bars_only_on_a_terminal():
    assert isinstance(terminal_progress(io.StringIO()), LineProgress)
    bars = terminal_progress(_Terminal())
    assert isinstance(bars, TqdmProgress)
    bars.close()


def test_cell_progress_outside_a_notebook_and_a_terminal_prints_lines(capsys):
    """``caliban_jupyter.cloud()`` from a script whose output goes to a file."""
    assert not sys.stderr.isatty()
    progress = CellProgress()
    for event in EVENTS:
        progress(event)
    progress.close()
    out, err = capsys.readouterr()
    assert "\r" not in out + err and err == ""
    assert "build step 2/2: RUN pip install" in out.splitlines()
    assert "push 100% of 0.0 MB" in out.splitlines()


# ----------------------------------------------------------- large build contexts

def test_a_context_over_500_mb_gets_one_line():
    assert large_context_warning(500_000_000) is None
    assert large_context_warning(12_000) is None
    warning = large_context_warning(812_400_000)
    assert warning is not None and "\n" not in warning
    assert warning.startswith("the build context is 812 MB (over 500 MB)")
    assert ".dockerignore" in warning


# ---------------------------------------------- one bar renderer, two presets (progress.py)

class _Bar:
    """Records what a renderer does to a tqdm bar."""

    made: list[_Bar] = []

    def __init__(self, **kwargs):
        self.kwargs, self.n, self.calls = kwargs, 0, []
        self.total = kwargs.get("total")
        _Bar.made.append(self)

    def set_postfix_str(self, text):
        self.calls.append(("postfix", text))

    def refresh(self):
        self.calls.append(("refresh", self.n))

    def update(self, n):
        self.n += n

    def close(self):
        self.calls.append(("close", self.n))

    @staticmethod
    def write(text, file=None):
        print(text, file=file)


def test_terminal_and_cell_bars_are_one_renderer_with_two_presets(monkeypatch, capsys):
    from caliban_jupyter import progress

    monkeypatch.setattr(progress, "_tqdm", lambda: _Bar)
    monkeypatch.setattr(progress, "_tqdm_auto", lambda: _Bar)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    for make in (progress.TqdmProgress, progress.CellProgress):
        _Bar.made = []
        shown = make()
        for event in EVENTS:
            shown(event)
        shown.close()
        build, push, submit = _Bar.made
        assert [b.kwargs["desc"] for b in _Bar.made] == ["build", "push", "submit"]
        assert (build.n, build.calls[-2:]) == (2, [("refresh", 2), ("close", 2)])
        assert push.n == 100 and push.calls[-1] == ("close", 100)
        assert submit.n == 2 and submit.calls[-1] == ("close", 2)
        out, err = capsys.readouterr()
        notices = ["building img:1 (3 files, 0.1 MB context)", "image img:1: built and pushed",
                   "NOT submitted job_2 (2/2): quota", "warning: careful"]
        if make is progress.TqdmProgress:  # stderr: stdout stays the records
            assert err.splitlines() == notices and out == ""
            assert build.kwargs["file"] is sys.stderr and "bar_format" in build.kwargs
            assert submit.kwargs["mininterval"] == 0.2
            assert ("refresh", 2) not in submit.calls
        else:  # in the cell's output; tqdm's own stream and looks
            assert out.splitlines() == notices and err == ""
            assert "file" not in build.kwargs and "bar_format" not in build.kwargs
            assert submit.calls[-2:] == [("refresh", 2), ("close", 2)]


# ----------------------------------------------------- one set of cells for every job table

def test_sweep_rows_and_the_live_table_take_their_cells_from_records():
    from caliban_jupyter.tables import record_cells
    from caliban_jupyter.widgets._rows import row_html

    notebook = {"jobSpec": {
        "baseOutputDirectory": {"outputUriPrefix": "/tmp/o/g/job_1/"},
        "workerPoolSpecs": [{"containerSpec": {"env": [
            {"name": "CALIBAN_NOTEBOOK", "value": "a.ipynb"}]}}]}}
    running = record(1, "RUNNING", args=("--lr", "0.1 x"), request=notebook)
    done = running.evolve(state="SUCCEEDED")
    failed = record(2, "NOT_SUBMITTED", url=None, error="quota <exceeded>")
    assert record_cells(running) == {
        "name": "job_1", "state": "RUNNING", "args": "--lr '0.1 x'",
        "created": "2024-05-01T10:00:00.123456789Z", "link": "http://127.0.0.1:8470/jobs/1",
        "notebook": "", "error": ""}
    assert record_cells(done)["notebook"] == "http://127.0.0.1:8470/jobs/1/notebook"
    assert record_cells(failed)["link"] == ""
    assert record_cells(failed)["error"] == "quota <exceeded>"
    sweep = Sweep(JobGroup("g", records=[done, failed],
                           settings=resolve_settings({"backend": "local"}, gpu=False, env={}),
                           backend=lambda: pytest.fail("no backend needed to display")))
    assert sweep.rows() == [{k: record_cells(r)[k] for k in ("name", "state", "args",
                                                             "created", "link")}
                            for r in (done, failed)]
    assert "/jobs/1/notebook" in sweep._repr_html_()
    assert "/jobs/1/notebook" in row_html(done, []) and "notebook" not in row_html(running, [])
    assert 'title="quota &lt;exceeded&gt;"' in row_html(failed, [])

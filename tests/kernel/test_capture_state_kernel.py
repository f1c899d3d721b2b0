"""Capture in a real kernel (issue 21): the history is the cells before the submitted one,
a refusal fails the cell, and the cell's result is reachable when the notebook assigns `_`.

Dry runs only: no image is built, nothing is submitted."""

from __future__ import annotations

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel]

DRY = "%%caliban_cloud --nogpu --dry_run --show_program"
CELLS = {
    "load": "%load_ext caliban_jupyter\n%config Caliban.backend = \"local\"",
    "x": "x = 1",
    # Finding 3: under IPython 9 the running cell was counted as history.
    "update": f"{DRY}\nx = x + 1\nprint(x)",
    "refused": f"{DRY}\nprint(nowhere_defined)",
    "after": "print('AFTER')",
    # Finding 5: the notebook assigns `_` itself.
    "underscore": "_ = 'mine'",
    "named": f"{DRY} --as planned\nprint(x)",
    "reach": "import caliban_jupyter\nprint('UNDERSCORE', _)\n"
             "print('OUT', type(Out[7]).__name__)\n"
             "print('LAST', type(caliban_jupyter.last()).__name__)\n"
             "print('AS', type(planned).__name__, planned is caliban_jupyter.last())",
}


@pytest.fixture(scope="module")
def executed(kernel_env, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("capture_state")
    nb = run_notebook(notebook_of(*CELLS.values()), cwd, allow_errors=True)
    return {name: cell for name, cell in zip(CELLS, nb.cells, strict=True)}


def test_the_submitted_cell_is_not_its_own_history(executed):
    out = outputs_text(executed["update"])
    assert "set by a magic" not in out and "UsageError" not in out, out
    program = out.split("Program (caliban_main.py")[1]
    assert "x = x + 1" in program and "values the cell reads: x (int" in program
    assert "_caliban_load(globals(), '...')  # " in program  # the bytes are not shown


def test_a_refusal_fails_the_cell_with_one_short_error(executed):
    outputs = executed["refused"].outputs
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1, outputs
    assert "nowhere_defined" in errors[0].evalue
    assert not any("Traceback" in line or "File " in line for line in errors[0].traceback)
    assert "AFTER" in outputs_text(executed["after"])  # the kernel goes on


def test_the_cells_result_is_reachable_when_the_notebook_assigns_underscore(executed):
    out = outputs_text(executed["reach"])
    assert "UNDERSCORE mine" in out
    assert "OUT DryRun" in out and "LAST DryRun" in out and "AS DryRun True" in out, out

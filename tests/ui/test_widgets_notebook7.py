"""The form and the live table in Notebook 7 (not JupyterLab): headless Chromium.

Notebook 7 is a different application shell over the same widget renderer package
(jupyterlab_widgets), so it gets its own check: a Notebook 7 server (loopback only, news
and update checks off) opens /notebooks/NAME.ipynb, whose cells write a tiny script and open
``caliban_jupyter.form(...)`` for it on the local emulator; the browser clicks Submit and
the table's rows must turn SUCCEEDED by themselves, and a row's log button must show the
job's output. The page is kept as docs/notebook7.png.

Needs scripts/ui-deps.sh (Debian's chromium, the `ui` extra) and scripts/services.sh.
"""

from __future__ import annotations

import pytest

from .conftest import DOCS, TRAIN, check_png, jupyter_server, write_notebook

pytestmark = [pytest.mark.ui, pytest.mark.docker, pytest.mark.kernel]

SCRIPT_CELL = f'from pathlib import Path\nPath("train.py").write_text({TRAIN!r});'
FORM_CELL = """\
import caliban_jupyter
f = caliban_jupyter.form("train.py", "--sleep", "0",
                         backend="local", nogpu=True, registry="127.0.0.1:5000",
                         xgroup="ui-notebook7", name="notebook7",
                         experiment_config={"learning_rate": [0.1, 0.01]})
f"""
#: What ipywidgets' renderer shows instead of a widget it cannot display.
PLACEHOLDERS = ("Loading widget", "Error displaying widget", "Error rendering",
                "model not found")


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory, ui_env):
    """A Notebook 7 server on 127.0.0.1 with a notebook that opens the form."""
    pytest.importorskip("notebook", reason="run scripts/ui-deps.sh (the `ui` extra)")
    root = tmp_path_factory.mktemp("nb7")
    write_notebook(root / "sweep.ipynb", SCRIPT_CELL, FORM_CELL)
    with jupyter_server("notebook", root, tmp_path_factory.mktemp("nb7-config"),
                        ui_env) as server:
        yield server


def _outputs(page) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())


def test_form_and_table_in_notebook7(notebook7, page):
    # Tall enough for the whole notebook: the screenshot shows Notebook 7's own chrome.
    page.set_viewport_size({"width": 1500, "height": 1450})
    page.goto(f"{notebook7['url']}/notebooks/sweep.ipynb?token={notebook7['token']}")
    # Notebook 7's own shell, not JupyterLab's.
    page.wait_for_selector("#main-panel .jp-Notebook", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.name.includes('Notebook')"
                           " && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session",
                           timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    form = page.locator(".caliban-form")
    try:
        form.wait_for(state="visible", timeout=60_000)
    except PlaywrightTimeout as e:  # say what the cells showed instead
        raise AssertionError(f"no form; cell outputs:\n{_outputs(page)}") from e

    # The widget itself rendered, not the renderer's placeholder or error.
    shown = _outputs(page)
    assert not [p for p in PLACEHOLDERS if p in shown], shown
    assert form.locator("button:has-text('Submit')").is_enabled()
    assert form.locator("button:has-text('Dry run')").is_visible()
    assert form.locator(".caliban-form-message").inner_text().startswith("✓ 2 jobs on local")
    # The first toggle is the accelerator kind (the scheduling strategy is another).
    kinds = form.locator(".widget-toggle-buttons").first.locator("button").all_inner_texts()
    assert [k.strip() for k in kinds] == ["GPU", "TPU", "none"]
    assert "learning_rate" in form.locator(".caliban-experiments textarea").input_value()
    assert "--learning_rate 0.01" in form.locator(".caliban-preview").inner_text()

    form.locator("button:has-text('Submit')").click()
    table = page.locator(".caliban-table")
    table.wait_for(state="visible", timeout=120_000)
    # Nothing clicks Refresh: the table's background refresh must get there alone.
    page.wait_for_function(
        "document.querySelectorAll('.caliban-table .caliban-state-SUCCEEDED').length == 2",
        timeout=120_000)
    assert table.locator(".caliban-row").count() == 2
    assert "2 SUCCEEDED" in table.locator(".caliban-summary").inner_text()
    assert "--learning_rate" in table.locator(".caliban-header").inner_text()

    first = table.locator(".caliban-row").first
    assert first.locator("button").count() == 3  # stop, resubmit, log
    first.locator("button").nth(2).click()
    page.wait_for_function("document.querySelector('.caliban-log') && document"
                           ".querySelector('.caliban-log').innerText.includes('TRAINED')",
                           timeout=30_000)
    assert "'--learning_rate': '0.1'" in table.locator(".caliban-log").inner_text()
    assert not [p for p in PLACEHOLDERS if p in _outputs(page)]

    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "notebook7.png"))
    check_png(DOCS / "notebook7.png")

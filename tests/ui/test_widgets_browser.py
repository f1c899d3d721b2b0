"""The form and the live table as a person sees them: JupyterLab 4 in headless Chromium.

A JupyterLab server (loopback only, news and update checks off) opens a notebook that
shows the form; the browser edits the experiment config, checks the live preview, clicks
Submit, and waits for the table's rows to turn SUCCEEDED, all through the real widget
front end. Screenshots of the rendered form and table are checked and kept in docs/.

Needs scripts/ui-deps.sh (Debian's chromium, the `ui` extra) and scripts/services.sh.
"""

from __future__ import annotations

import pytest

from .conftest import DOCS, TRAIN, check_png, jupyter_server, write_notebook

pytestmark = [pytest.mark.ui, pytest.mark.docker, pytest.mark.kernel]

FORM_CELL = """\
from caliban_jupyter import form
f = form("train.py", initial={
    "backend": "local", "nogpu": True, "xgroup": "ui-quickstart", "name": "quickstart",
    "registry": "127.0.0.1:5000", "label": ["team=research"],
}, table_options={"interval": 0.5, "max_interval": 2})
f"""
CONFIG = ('{\n  // two learning rates, one job each\n  "learning_rate": [0.1, 0.01],\n'
          '  "sleep": [1]\n}')


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ui_env):
    """A JupyterLab server on 127.0.0.1 with a notebook showing the form."""
    root = tmp_path_factory.mktemp("lab")
    (root / "train.py").write_text(TRAIN)
    write_notebook(root / "quickstart.ipynb", FORM_CELL)
    with jupyter_server("jupyterlab", root, tmp_path_factory.mktemp("lab-config"),
                        ui_env) as server:
        yield server


def test_quickstart_with_the_form_and_the_table(lab, page):
    page.goto(f"{lab['url']}/lab/tree/quickstart.ipynb?token={lab['token']}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session",
                           timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    form = page.locator(".caliban-form")
    form.wait_for(state="visible", timeout=120_000)

    # The form rendered with its controls and catalog choices.
    assert form.locator("button:has-text('Submit')").is_enabled()
    assert form.locator(".caliban-form-message").inner_text().startswith("✓ 1 job")
    # The first toggle is the accelerator kind (the scheduling strategy is another).
    kinds = form.locator(".widget-toggle-buttons").first.locator("button").all_inner_texts()
    assert [k.strip() for k in kinds] == ["GPU", "TPU", "none"]

    # Typing a broken config shows the line and column and disables Submit ...
    editor = form.locator(".caliban-experiments textarea")
    editor.fill('{\n  "learning_rate": [0.1, oops]\n}')
    page.wait_for_function("document.querySelector('.caliban-form-message')"
                           ".innerText.includes('line 2, column')", timeout=30_000)
    assert form.locator("button:has-text('Submit')").is_disabled()
    # ... and a valid one previews the jobs live.
    editor.fill(CONFIG)
    page.wait_for_function("document.querySelector('.caliban-preview') && document"
                           ".querySelector('.caliban-preview').innerText.includes('2 jobs')",
                           timeout=30_000)
    assert "--learning_rate 0.1" in form.locator(".caliban-preview").inner_text()
    DOCS.mkdir(exist_ok=True)
    form.screenshot(path=str(DOCS / "form.png"))
    check_png(DOCS / "form.png")

    form.locator("button:has-text('Submit')").click()
    table = page.locator(".caliban-table")
    table.wait_for(state="visible", timeout=600_000)
    page.wait_for_function(
        "document.querySelectorAll('.caliban-table .caliban-state-SUCCEEDED').length == 2",
        timeout=300_000)
    assert table.locator(".caliban-row").count() == 2
    assert "2 SUCCEEDED" in table.locator(".caliban-summary").inner_text()
    header = table.locator(".caliban-header").inner_text()
    assert "--learning_rate" in header and "--sleep" not in header  # only varying args
    links = table.locator(".caliban-cells a").evaluate_all("els => els.map(e => e.href)")
    assert len(links) == 2 and all(u.startswith("http://127.0.0.1:") for u in links)
    progress = page.locator(".caliban-progress .widget-hprogress:visible")
    assert progress.count() >= 1
    table.locator(".caliban-row button").nth(2).click()  # job 1's log
    page.wait_for_function("document.querySelector('.caliban-log') && document"
                           ".querySelector('.caliban-log').innerText.includes('TRAINED')",
                           timeout=60_000)
    table.screenshot(path=str(DOCS / "table.png"))
    check_png(DOCS / "table.png")

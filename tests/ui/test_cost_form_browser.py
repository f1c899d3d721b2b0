"""The form's cost estimate as a person sees it (JupyterLab 4, headless Chromium): it
follows the accelerator count. A screenshot is kept in docs/form-cost.png."""

from __future__ import annotations

import pytest

from .conftest import DOCS, TRAIN, check_png, jupyter_server, write_notebook

pytestmark = [pytest.mark.ui, pytest.mark.kernel]

FORM_CELL = """\
from caliban_jupyter import form
form("train.py", initial={"backend": "local", "gpu_spec": "1xA100", "region": "us-central1"})
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ui_env):
    root = tmp_path_factory.mktemp("lab-cost")
    (root / "train.py").write_text(TRAIN)
    write_notebook(root / "cost.ipynb", FORM_CELL)
    with jupyter_server("jupyterlab", root, tmp_path_factory.mktemp("lab-cost-config"),
                        ui_env) as server:
        yield server


def test_the_estimate_follows_the_accelerator_count(lab, page):
    page.goto(f"{lab['url']}/lab/tree/cost.ipynb?token={lab['token']}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session",
                           timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    form = page.locator(".caliban-form")
    form.wait_for(state="visible", timeout=120_000)
    cost = form.locator(".caliban-form-cost")
    cost.wait_for(state="visible", timeout=60_000)
    assert "on-demand: $3.67/h per job" in cost.inner_text()

    count = form.locator(".widget-dropdown", has_text="count").locator("select")
    count.select_option(label="8")
    page.wait_for_function("document.querySelector('.caliban-form-cost') && document"
                           ".querySelector('.caliban-form-cost').innerText"
                           ".includes('on-demand: $29.39/h per job')", timeout=30_000)
    text = cost.inner_text()
    assert "Estimated cost (list prices as of" in text and "Spot: $14.43/h per job" in text
    DOCS.mkdir(exist_ok=True)
    form.screenshot(path=str(DOCS / "form-cost.png"))
    check_png(DOCS / "form-cost.png")

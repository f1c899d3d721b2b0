"""The JupyterLab extension as a person uses it, in headless Chromium: Run as job from a
notebook's toolbar (a 2-job sweep, both SUCCEEDED in the Caliban panel without a reload),
a job submitted from a kernel cell appearing in the panel by itself, and a running job
stopped from the panel. Screenshots of the dialog and the panel are kept in docs/.

Needs scripts/ui-deps.sh (chromium, the `ui` extra, the built lab extension) and
scripts/services.sh (Docker engine, base image).
"""

from __future__ import annotations

import json
import urllib.request
import zipfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from .conftest import DOCS, check_png, jupyter_server

pytestmark = [pytest.mark.ui, pytest.mark.docker, pytest.mark.kernel]

CONFIG = '{\n  // one job per learning rate\n  "learning_rate": [0.1, 0.01]\n}'
APP = "window.jupyterapp"


def notebook(path, *sources: str, parameters: bool = False) -> None:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    if parameters:
        nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ui_env):
    root = tmp_path_factory.mktemp("lab-ext")
    notebook(root / "train.ipynb", "learning_rate = 0.5\nepochs = 3",
             "print('TRAINED', learning_rate * epochs)", parameters=True)
    notebook(root / "from_kernel.ipynb", "%load_ext caliban_jupyter",
             "%%caliban_cloud --nogpu --backend local --xgroup from-kernel\n"
             "print('FROM KERNEL')")
    notebook(root / "slow.ipynb", "seconds = 0",
             "import time\nprint('START', flush=True)\ntime.sleep(seconds)", parameters=True)
    notebook(root / "export_me.ipynb", "epochs = 2", "print('EXPORTED', epochs)",
             parameters=True)
    with jupyter_server("jupyterlab", root, tmp_path_factory.mktemp("lab-ext-config"),
                        ui_env) as server:
        yield server


def open_notebook(page, lab, name: str) -> None:
    page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}")
    # Notebooks of earlier tests are restored too, hidden: wait for a visible one.
    page.locator(".jp-Notebook:visible").first.wait_for(timeout=90_000)
    page.wait_for_function(f"{APP} && {APP}.shell.currentWidget && "
                           f"{APP}.shell.currentWidget.context.path == '{name}'",
                           timeout=60_000)


def open_panel(page) -> None:
    """Show the Caliban panel (once the shell is restored, or the restore hides it)."""
    page.evaluate(f"{APP}.restored.then(() => {APP}.commands.execute('caliban:open-panel'))")
    page.locator("#caliban-panel").wait_for(state="visible", timeout=30_000)


def group(page, xgroup: str):
    return page.locator(f".caliban-group[data-xgroup='{xgroup}']")


def wait_states(page, xgroup: str, state: str, n: int, timeout: int = 300_000) -> None:
    page.wait_for_function(
        f"document.querySelectorAll(\".caliban-group[data-xgroup='{xgroup}'] "
        f".caliban-job .caliban-state-{state}\").length == {n}", timeout=timeout)


def message(page) -> str:
    return page.locator(".caliban-dialog .caliban-message").inner_text()


def wait_message(page, text: str) -> None:
    """Wait until the dialog's check line says ``text`` (after its 400 ms debounce)."""
    page.wait_for_function("document.querySelector('.caliban-dialog .caliban-message')"
                           f".innerText.includes({json.dumps(text)})", timeout=30_000)


def test_run_as_job_from_the_toolbar(lab, page):
    open_notebook(page, lab, "train.ipynb")
    # An unsaved edit: Submit must save it first, so the jobs run what is on screen.
    page.wait_for_function(f"{APP}.shell.currentWidget.content.model && "
                           f"{APP}.shell.currentWidget.content.model.cells.length == 2",
                           timeout=60_000)
    page.evaluate(f"{APP}.shell.currentWidget.content.model.cells.get(1).sharedModel"
                  ".setSource(\"print('EDITED', learning_rate * epochs)\")")
    page.locator(".caliban-run-button").click()
    dialog = page.locator(".caliban-dialog")
    dialog.wait_for(timeout=30_000)
    # The notebook's parameters are offered in the config editor.
    editor = dialog.locator("textarea[name=experiment_config]")
    page.wait_for_function("document.querySelector('.caliban-dialog textarea')"
                           ".value.includes('learning_rate = 0.5')", timeout=30_000)
    dialog.locator("select[name=backend]").select_option("local")
    # Choices follow each other: V100 offers its counts only.
    dialog.locator("select[name=accelerator]").select_option("V100")
    page.wait_for_function("document.querySelectorAll('.caliban-dialog select[name=count] "
                           "option').length == 5", timeout=30_000)
    counts = dialog.locator("select[name=count] option").all_inner_texts()
    assert counts == ["1", "1", "2", "4", "8"]  # "(1)" default, then the catalog's counts
    dialog.locator("button.caliban-kind:has-text('none')").click()
    # A broken config is explained inline and disables Submit ...
    editor.fill('{\n  "learning_rate": [0.1, oops]\n}')
    page.wait_for_function("document.querySelector('.caliban-message').innerText"
                           ".includes('line 2, column')", timeout=30_000)
    assert dialog.locator("button.caliban-submit").is_disabled()
    # ... and a valid one previews its jobs from the server's dry run.
    editor.fill(CONFIG)
    dialog.locator("input[name=xgroup]").fill("lab-two")
    page.wait_for_function("document.querySelector('.caliban-message').innerText"
                           ".includes('2 jobs on local')", timeout=30_000)
    preview = dialog.locator(".caliban-preview").inner_text()
    assert "--learning_rate 0.1" in preview and "--learning_rate 0.01" in preview
    # Runtime choices are checked by the same dry run: flex-start on this CPU-only job is
    # refused with the server's suggestion, and Submit is disabled ...
    submit_button = dialog.locator("button.caliban-submit")
    dialog.locator("button.caliban-capacity:has-text('flex-start')").click()
    dialog.locator("input[name=max_wait]").wait_for(timeout=10_000)
    wait_message(page, "--flex_start queues only")
    assert "--gpu_spec 1xA100 --flex_start" in message(page)
    assert submit_button.is_disabled()
    # ... as is a malformed timeout.
    dialog.locator("button.caliban-capacity:has-text('Spot')").click()
    assert dialog.locator("input[name=max_wait]").count() == 0
    dialog.locator("input[name=timeout]").fill("2 hours")
    wait_message(page, "is not a duration")
    assert submit_button.is_disabled()
    # Valid choices: the server's reading of them is shown under the check.
    dialog.locator("input[name=timeout]").fill("2h")
    dialog.locator("input[name=workers]").fill("2")
    dialog.locator("input[name=worker_machine_type]").fill("n1-standard-4")
    page.wait_for_function("document.querySelector('.caliban-runtime-summary') && document"
                           ".querySelector('.caliban-runtime-summary').innerText"
                           ".includes('2 workers')", timeout=30_000)
    wait_message(page, "2 jobs on local")
    summary = dialog.locator(".caliban-runtime-summary").inner_text()
    assert "SPOT" in summary and "timeout 7200s" in summary
    assert "1 chief + 2 workers (n1-standard-4)" in summary
    assert submit_button.is_enabled()
    DOCS.mkdir(exist_ok=True)
    page.locator(".jp-Dialog-content").screenshot(path=str(DOCS / "lab-dialog.png"))
    check_png(DOCS / "lab-dialog.png")
    # The submitted jobs: Spot with a timeout, one replica each (the emulator would run
    # every worker replica too; tests/integration covers multi-replica jobs).
    dialog.locator("input[name=workers]").fill("")
    page.wait_for_function("!document.querySelector('.caliban-runtime-summary')"
                           ".innerText.includes('worker')", timeout=30_000)
    wait_message(page, "2 jobs on local")

    dialog.locator("button.caliban-submit").click()
    dialog.wait_for(state="detached", timeout=60_000)
    group(page, "lab-two").wait_for(timeout=30_000)  # shown at once, while it builds
    wait_states(page, "lab-two", "SUCCEEDED", 2)
    assert "2 jobs: 2 SUCCEEDED" in group(page, "lab-two").locator(
        ".caliban-group-counts").inner_text()
    # The log view of a job: it ran the edited, saved notebook.
    group(page, "lab-two").locator(".caliban-job").first.locator(".caliban-logs").click()
    page.wait_for_function("document.querySelector('.caliban-log-text') && document"
                           ".querySelector('.caliban-log-text').innerText.includes('EDITED')",
                           timeout=60_000)
    assert "EDITED 0.30000000000000004" in page.locator(".caliban-log-text").inner_text()
    assert "EDITED" in (lab["root"] / "train.ipynb").read_text()  # saved before submitting
    # Widen the side panel (drag its handle) and keep the panel beside the notebook.
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first.bounding_box()
    page.mouse.move(handle["x"] + 1, handle["y"] + 300)
    page.mouse.down()
    page.mouse.move(handle["x"] + 260, handle["y"] + 300, steps=5)
    page.mouse.up()
    page.screenshot(path=str(DOCS / "lab-panel.png"),
                    clip={"x": 0, "y": 0, "width": 1200, "height": 560})
    check_png(DOCS / "lab-panel.png")


def test_a_job_submitted_from_a_kernel_cell_appears_by_itself(lab, page):
    open_notebook(page, lab, "from_kernel.ipynb")
    open_panel(page)
    page.wait_for_function(f"{APP}.shell.currentWidget.sessionContext.session",
                           timeout=60_000)
    page.evaluate(f"{APP}.commands.execute('notebook:run-all-cells')")
    group(page, "from-kernel").wait_for(timeout=600_000)
    page.wait_for_function(
        "document.querySelector(\".caliban-group[data-xgroup='from-kernel'] "
        ".caliban-group-counts\").innerText.includes('1 SUCCEEDED')", timeout=300_000)


def unzip(download, tmp_path) -> dict[str, str]:
    """The text of every file of a downloaded zip, by name."""
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name).decode() for name in z.namelist() if not name.endswith("/")}


def test_export_as_job_downloads_the_job_directory(lab, page, tmp_path):
    open_notebook(page, lab, "export_me.ipynb")
    # An unsaved edit: the export must save it first, so the zip holds what is on screen.
    page.wait_for_function(f"{APP}.shell.currentWidget.content.model && "
                           f"{APP}.shell.currentWidget.content.model.cells.length == 2",
                           timeout=60_000)
    page.evaluate(f"{APP}.shell.currentWidget.content.model.cells.get(1).sharedModel"
                  ".setSource(\"print('EXPORTED EDIT', epochs)\")")
    with page.expect_download(timeout=60_000) as download:
        page.locator(".caliban-export-button:visible").click()
    assert download.value.suggested_filename == "export_me.zip"
    files = unzip(download.value, tmp_path)
    assert {"export_me/main.py", "export_me/submit.sh"} <= set(files), sorted(files)
    assert "EXPORTED EDIT" in files["export_me/main.py"]
    assert "caliban cloud" in files["export_me/submit.sh"]
    assert "EXPORTED EDIT" in (lab["root"] / "export_me.ipynb").read_text()

    # From the file browser's context menu, with another notebook open and current: the
    # notebook right-clicked is exported, not the open one.
    open_notebook(page, lab, "train.ipynb")
    page.evaluate(f"{APP}.commands.execute('filebrowser:activate')")
    item = page.locator(".jp-DirListing-item[data-file-type=notebook]"
                        ":has-text('export_me.ipynb')")
    item.click(button="right")
    with page.expect_download(timeout=60_000) as download:
        page.locator(".lm-Menu-item:has-text('Export as job')").click()
    assert download.value.suggested_filename == "export_me.zip"
    assert "export_me/main.py" in unzip(download.value, tmp_path)
    # The palette lists it under Caliban.
    page.evaluate(f"{APP}.commands.execute('apputils:activate-command-palette')")
    page.locator(".lm-CommandPalette-input").fill("Export as job")
    page.locator(".lm-CommandPalette-item:has-text('Export as job')").wait_for(
        timeout=10_000)
    page.keyboard.press("Escape")


def submit(lab, body: dict) -> dict:
    request = urllib.request.Request(
        f"{lab['url']}/caliban/api/submissions", data=json.dumps(body).encode(),
        method="POST", headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_stop_a_running_job_from_the_panel(lab, page):
    open_notebook(page, lab, "train.ipynb")
    reply = submit(lab, {"notebook": "slow.ipynb", "options": {
        "backend": "local", "nogpu": True, "xgroup": "lab-stop",
        "experiment_config": {"seconds": [600]}}})
    assert reply["xgroup"] == "lab-stop"
    open_panel(page)
    group(page, "lab-stop").wait_for(timeout=60_000)
    group(page, "lab-stop").locator(".caliban-group-head").click()  # expand
    wait_states(page, "lab-stop", "RUNNING", 1)
    job = group(page, "lab-stop").locator(".caliban-job").first
    assert job.locator(".caliban-resubmit").is_disabled()
    job.locator(".caliban-stop").click()
    wait_states(page, "lab-stop", "CANCELLED", 1, timeout=120_000)
    assert job.locator(".caliban-stop").is_disabled()
    assert job.locator(".caliban-resubmit").is_enabled()


def test_the_panel_says_when_the_server_extension_is_missing(tmp_path_factory, ui_env, page):
    root = tmp_path_factory.mktemp("lab-no-server-ext")
    with jupyter_server("jupyterlab", root, tmp_path_factory.mktemp("lab-no-ext-config"),
                        ui_env, caliban_server=False) as server:
        page.goto(f"{server['url']}/lab?token={server['token']}")
        page.wait_for_function(f"{APP} && {APP}.commands.hasCommand('caliban:open-panel')",
                               timeout=90_000)
        open_panel(page)
        missing = page.locator(".caliban-missing")
        missing.wait_for(timeout=60_000)
        assert "jupyter server extension enable caliban_jupyter.server" in missing.inner_text()


def test_notebook7_has_run_as_job_and_the_panel(tmp_path_factory, ui_env, page):
    root = tmp_path_factory.mktemp("nb7-ext")
    notebook(root / "train.ipynb", "learning_rate = 0.5", "print(learning_rate)",
             parameters=True)
    with jupyter_server("notebook", root, tmp_path_factory.mktemp("nb7-ext-config"),
                        ui_env) as server:
        page.goto(f"{server['url']}/notebooks/train.ipynb?token={server['token']}")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        page.locator(".caliban-run-button").click()
        dialog = page.locator(".caliban-dialog")
        dialog.wait_for(timeout=30_000)
        dialog.locator("select[name=backend]").select_option("local")
        dialog.locator("button.caliban-kind:has-text('none')").click()
        page.wait_for_function("document.querySelector('.caliban-message').innerText"
                               ".includes('1 job on local')", timeout=30_000)
        assert dialog.locator("button.caliban-submit").is_enabled()
        page.locator(".jp-Dialog button:has-text('Cancel')").click()
        open_panel(page)
        page.locator(".caliban-panel-body").wait_for(timeout=30_000)

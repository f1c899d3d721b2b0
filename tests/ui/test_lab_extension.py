"""The JupyterLab extension as a person uses it, in headless Chromium: Run as job from a
notebook's toolbar (a 2-job sweep, both SUCCEEDED in the Caliban panel without a reload),
a job submitted from a kernel cell appearing in the panel by itself, and a running job
stopped from the panel. Screenshots of the dialog and the panel are kept in docs/.

Needs scripts/ui-deps.sh (chromium, the `ui` extra, the built lab extension) and
scripts/services.sh (Docker engine, base image).
"""

from __future__ import annotations

import json
import time
import urllib.request
import zipfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from support.api_schema import check_reply

from .conftest import DOCS, check_png, jupyter_server

pytestmark = [pytest.mark.ui, pytest.mark.docker, pytest.mark.kernel]

CONFIG = '{\n  // one job per learning rate\n  "learning_rate": [0.1, 0.01]\n}'
#: A sweep whose job with fail=1 fails at once and whose other job prints a line a second.
SWEEP = """\
import time
if fail:
    raise RuntimeError('the loss diverged at step 3')
for step in range(steps):
    print(f'step {step}: loss {1 / (step + 1):.4f}', flush=True)
    time.sleep(1)
"""
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
    notebook(root / "sweep.ipynb", "fail = 0\nsteps = 600", SWEEP, parameters=True)
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
    page.screenshot(path=str(DOCS / "lab-panel-wide.png"),
                    clip={"x": 0, "y": 0, "width": 1200, "height": 560})
    check_png(DOCS / "lab-panel-wide.png")


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
        reply = json.loads(response.read())
    check_reply(reply, "ISubmissionReply")  # the contract the lab's types come from
    return reply


def get(lab, path: str) -> dict:
    request = urllib.request.Request(f"{lab['url']}/caliban/api/{path}",
                                     headers={"Authorization": f"token {lab['token']}"})
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
    # Only what applies is offered: a running job can be stopped, not resubmitted.
    assert job.locator(".caliban-resubmit").count() == 0
    job.get_by_role("button", name="Stop job 1 of lab-stop").click()
    wait_states(page, "lab-stop", "CANCELLED", 1, timeout=120_000)
    assert job.locator(".caliban-stop").count() == 0
    assert job.get_by_role("button", name="Resubmit job 1 of lab-stop").is_enabled()


def command(page, name: str, args: dict | None = None) -> None:
    """Run a JupyterLab command (what it returns, often a widget, stays in the page)."""
    page.evaluate(f"{APP}.commands.execute({json.dumps(name)}, {json.dumps(args or {})})"
                  ".then(() => null)")


REFRESH_INPUT = "#jp-SettingsEditor-caliban-jupyter\\:plugin_refreshInterval"


def set_refresh_interval(page, seconds: float) -> None:
    """Type ``seconds`` into the Settings Editor's Caliban form, as a person does."""
    command(page, "settingeditor:open", {"query": "Caliban"})
    field = page.locator(REFRESH_INPUT)
    field.wait_for(timeout=30_000)
    field.fill(str(seconds))
    field.press("Tab")


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def checks(page, requests: list[tuple[float, str]], since: float, n: int) -> list[float]:
    """The times of the first ``n`` checks of the group list (GET groups) after ``since``,
    waiting for them (in the page: its events are recorded while Playwright waits)."""
    deadline = time.monotonic() + 120
    while True:
        times = [t for t, url in list(requests)
                 if t > since and url.split("?")[0].endswith("/caliban/api/groups")]
        if len(times) >= n:
            return times[:n]
        assert time.monotonic() < deadline, f"only {len(times)} checks since the change"
        page.wait_for_timeout(250)


def no_overflow(page) -> bool:
    """Nothing in the panel runs past its right edge (no horizontal scrolling)."""
    return page.evaluate("(() => { const p = document.querySelector('#caliban-panel');"
                         " return p.scrollWidth <= p.clientWidth; })()")


def test_a_failure_is_notified_with_the_panel_closed_and_a_log_is_followed(lab, page):
    """A fresh tab whose Caliban panel was never opened: a sweep submitted after the lab
    opened has a job fail, and a notification says so (the group was never seen before);
    its *Show logs* opens the panel at the error. The running job's log follows its
    lines; the refresh interval set in the Settings Editor sets the pace of the checks.
    Screenshots of the panel at its default width go to docs/."""
    requests: list[tuple[float, str]] = []
    page.on("request", lambda r: requests.append((time.monotonic(), r.url))
            if "/caliban/api/groups" in r.url else None)
    page.goto(f"{lab['url']}/lab?reset&token={lab['token']}")  # no restored panel
    page.wait_for_function(f"{APP} && {APP}.commands.hasCommand('caliban:open-panel')",
                           timeout=90_000)
    page.evaluate(f"{APP}.restored.then(() => true)")
    panel = page.locator("#caliban-panel")
    assert panel.is_hidden()
    # Closed, the panel checks ten times less often than the setting: 1 s -> 10 s.
    set_refresh_interval(page, 1)
    changed = time.monotonic()
    reply = submit(lab, {"notebook": "sweep.ipynb", "options": {
        "backend": "local", "nogpu": True, "xgroup": "lab-mixed",
        "experiment_config": {"fail": [1, 0]}}})
    assert reply["xgroup"] == "lab-mixed"
    # While it builds, the group is listed with its submission's state (the contract).
    building = get(lab, "groups")
    check_reply(building, "IGroupsReply")
    assert building["groups"][0]["submission"]["notebook"] == "sweep.ipynb"
    toast = page.locator(".Toastify__toast", has_text="1 job of lab-mixed FAILED")
    toast.wait_for(timeout=600_000)
    assert panel.is_hidden()  # announced without the panel ever being open
    # The hidden pace: after the check the setting change made at once, 10 s apart.
    hidden = checks(page, requests, changed, 3)
    assert panel.is_hidden()
    assert min(gaps(hidden[1:])) >= 9.5, gaps(hidden)
    toast.get_by_role("button", name="Show logs").click()
    panel.wait_for(state="visible", timeout=30_000)
    log = page.locator(".caliban-log")
    page.wait_for_function("document.querySelector('.caliban-log-text') && document"
                           ".querySelector('.caliban-log-text').innerText"
                           ".includes('diverged')", timeout=60_000)
    assert "job 1" in log.locator(".caliban-log-title").inner_text()
    assert "--fail 1" in log.locator(".caliban-log-title").inner_text()

    # The layout at the default width: each job by its index and args, the common
    # prefix of their names once, the error one line until expanded, nothing cut.
    box = panel.bounding_box()
    assert box["width"] < 300, box  # the side panel's default width, not widened
    mixed = group(page, "lab-mixed")
    wait_states(page, "lab-mixed", "RUNNING", 1)
    jobs = mixed.locator(".caliban-job")
    prefix = mixed.locator(".caliban-jobs-prefix").inner_text().removesuffix("n")
    assert prefix and all(prefix not in jobs.nth(i).locator(".caliban-job-title").inner_text()
                          for i in range(2))
    failed = mixed.locator(".caliban-job:has(.caliban-state-FAILED)")
    assert failed.locator(".caliban-job-args").inner_text() == "--fail 1"
    summary = failed.locator(".caliban-job-error summary")
    assert summary.bounding_box()["height"] < 25  # one line
    assert not failed.locator(".caliban-job-error-text").is_visible()
    summary.focus()
    page.keyboard.press("Enter")  # keyboard: expand the error
    failed.locator(".caliban-job-error-text").wait_for(state="visible", timeout=5_000)
    assert "diverged" in failed.locator(".caliban-job-error-text").inner_text()
    assert no_overflow(page)
    # Every action is a button named for what it does, reachable from the keyboard;
    # the group's actions are in their own group, apart from each job's.
    buttons = panel.locator("button")
    for i in range(buttons.count()):
        b = buttons.nth(i)
        name = b.get_attribute("aria-label") or b.inner_text()
        assert len(name.strip()) > 3 and not any(c in name for c in "■↻≣✕"), name
        assert b.evaluate("e => e.tabIndex") >= 0
    actions = mixed.locator(".caliban-group-actions")
    assert actions.get_attribute("aria-label") == "Actions on group lab-mixed"
    assert actions.get_by_role("button", name="Stop every running job of lab-mixed").count()
    assert failed.get_by_role("button", name="Resubmit job 1 of lab-mixed").count()

    # Following a running job's log: its lines appear while it runs.
    running = mixed.locator(".caliban-job:has(.caliban-state-RUNNING)")
    running.get_by_role("button", name="Show the log of job 2 of lab-mixed").focus()
    page.keyboard.press("Enter")
    text = page.locator(".caliban-log-text")
    page.wait_for_function("document.querySelector('.caliban-log-text').innerText"
                           ".includes('step 1:')", timeout=120_000)
    assert "following" in log.locator(".caliban-log-title").inner_text()
    seen = len(text.inner_text().splitlines())
    page.wait_for_function("document.querySelector('.caliban-log-text').innerText"
                           f".split('\\n').filter(l => l.startsWith('step')).length > {seen + 2}",
                           timeout=60_000)
    assert no_overflow(page)
    DOCS.mkdir(exist_ok=True)
    summary.click()  # collapsed again: the error as one line
    command(page, "docmanager:open", {"path": "sweep.ipynb"})
    page.locator(".jp-Notebook:visible").first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # the notebook's first paint
    page.screenshot(path=str(DOCS / "lab-panel.png"),
                    clip={"x": 0, "y": 0, "width": 760, "height": 640})
    check_png(DOCS / "lab-panel.png")

    # The refresh interval setting sets the pace of the visible panel's checks.
    def pace(seconds: float, n: int) -> list[float]:
        set_refresh_interval(page, seconds)
        # The first check after the change is at once; the n gaps after it follow it.
        return gaps(checks(page, requests, time.monotonic(), n + 2)[1:])

    command(page, "caliban:open-panel")
    fast = pace(1, 5)
    slow = pace(4, 3)
    assert min(fast) >= 0.95 and min(slow) >= 3.95, (fast, slow)
    assert sorted(slow)[len(slow) // 2] > 2 * sorted(fast)[len(fast) // 2], (fast, slow)

    # The group's own action: stop the sweep (after a confirmation).
    mixed.get_by_role("button", name="Stop every running job of lab-mixed").click()
    page.locator(".jp-Dialog button:has-text('Stop')").click()
    wait_states(page, "lab-mixed", "CANCELLED", 1, timeout=120_000)
    # Once per tab: dozens of checks later, the failure was not announced again (its
    # notification went when Show logs was clicked) and the end of the group is
    # announced once (the notification center lists the tab's notifications).
    command(page, "apputils:display-notifications")
    center = page.locator(".jp-Notification-List")
    center.locator(".Toastify__toast", has_text="lab-mixed finished").wait_for(
        timeout=60_000)
    assert center.locator(".Toastify__toast", has_text="lab-mixed FAILED").count() == 0
    finished = center.locator(".Toastify__toast", has_text="lab-mixed finished")
    assert finished.count() == 1
    assert "1 FAILED, 1 CANCELLED" in finished.inner_text()
    set_refresh_interval(page, 3)


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

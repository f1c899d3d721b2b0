"""The form and the live table as a person sees them: JupyterLab 4 in headless Chromium.

A JupyterLab server (loopback only, news and update checks off) opens a notebook that
shows the form; the browser edits the experiment config, checks the live preview, clicks
Submit, and waits for the table's rows to turn SUCCEEDED, all through the real widget
front end. Screenshots of the rendered form and table are checked and kept in docs/.

Needs scripts/ui-deps.sh (Debian's chromium, the `ui` extra) and scripts/services.sh.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.ui, pytest.mark.docker, pytest.mark.kernel]

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TRAIN = """\
import sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
time.sleep(float(args.get("--sleep", "0")))
print("TRAINED", args)
"""
FORM_CELL = """\
from caliban_jupyter.widgets import form
f = form("train.py", initial={
    "backend": "local", "nogpu": True, "xgroup": "ui-quickstart", "name": "quickstart",
    "registry": "127.0.0.1:5000", "label": ["team=research"],
}, table_options={"interval": 0.5, "max_interval": 2})
f"""
CONFIG = ('{\n  // two learning rates, one job each\n  "learning_rate": [0.1, 0.01],\n'
          '  "sleep": [1]\n}')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a notebook showing the form."""
    pytest.importorskip("jupyterlab", reason="run scripts/ui-deps.sh (the `ui` extra)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ui-deps.sh", pytrace=False)
    root = tmp_path_factory.mktemp("lab")
    config = tmp_path_factory.mktemp("lab-config")
    (root / "train.py").write_text(TRAIN)
    nb = new_notebook(cells=[new_code_cell(FORM_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "quickstart.ipynb")
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "open_browser": False, "allow_root": True},
        "LabApp": {"news_url": None, "expose_app_in_browser": True,
                   "check_for_updates_class":
                       "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
    }))
    # No "get notified about Jupyter news?" toast over the screenshots, no update checks.
    notification = config / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    home = os.environ.get("CALIBAN_HOME") or str(tmp_path_factory.mktemp("caliban-home"))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "CALIBAN_HOME": home,
           "CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE",
                                                "caliban-base:bookworm-py3"),
           "NO_GCE_CHECK": "true", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                    "--name", "python3"], check=True, capture_output=True)
    log = open(root.parent / "lab.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", f"--port={port}", "--no-browser",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         f"--LabApp.user_settings_dir={config / 'settings'}",
         f"--LabApp.workspaces_dir={config / 'workspaces'}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}",
                   time.monotonic() + 90)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def page(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1700, "height": 2200})
        page = context.new_page()

        def loopback_only(route):
            host = route.request.url.split("/")[2].split(":")[0]
            if route.request.url.startswith(("data:", "blob:")) or host in (
                    "127.0.0.1", "localhost"):
                route.continue_()
            else:
                route.abort()

        page.route("**/*", loopback_only)
        yield page
        context.close()
        browser.close()


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A blank or one-colour capture compresses to almost nothing; rendered widgets don't.
    assert len(data) > 8_000, f"{path} is only {len(data)} bytes"


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
    kinds = form.locator(".widget-toggle-buttons button").all_inner_texts()
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
    _check_png(DOCS / "form.png")

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
    _check_png(DOCS / "table.png")

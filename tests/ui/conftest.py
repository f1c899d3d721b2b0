"""Browser-test fixtures shared by the JupyterLab 4 and Notebook 7 tests.

A private ``CALIBAN_HOME`` (its emulator stopped at teardown), a Jupyter server on
127.0.0.1 with news and update checks off, and headless Debian chromium whose requests to
anything but loopback are aborted. Needs scripts/ui-deps.sh and scripts/services.sh.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from support import install_kernelspec

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
#: The job program of the browser tests: sleeps --sleep seconds, prints its args.
TRAIN = """\
import sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
time.sleep(float(args.get("--sleep", "0")))
print("TRAINED", args)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A blank or one-colour capture compresses to almost nothing; rendered widgets don't.
    assert len(data) > 8_000, f"{path} is only {len(data)} bytes"


def write_notebook(path: Path, *sources: str) -> None:
    """A notebook of code cells ``sources`` on this venv's ``python3`` kernel."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def ui_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Environment of the servers and their kernels: a private CALIBAN_HOME whose emulator
    is stopped at teardown, the local base image, no Google metadata probes."""
    pytest.importorskip("jupyterlab", reason="run scripts/ui-deps.sh (the `ui` extra)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ui-deps.sh", pytrace=False)
    home = tmp_path_factory.mktemp("caliban-home")
    env = {**os.environ, "CALIBAN_HOME": str(home),
           "CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE",
                                                "caliban-base:bookworm-py3-nb"),
           "NO_GCE_CHECK": "true", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    # The kernel the server starts must be this interpreter (it has caliban_jupyter).
    install_kernelspec()
    yield env
    # The kernels started an emulator for this private home: do not leave it running.
    from caliban_jupyter.emulator.control import stop

    stop(home)


def lab_extension(config: Path) -> Path:
    """A labextensions directory holding this checkout's built lab extension, so the
    browser runs the sources under test (scripts/ui-deps.sh builds it)."""
    built = REPO / "caliban_jupyter" / "labextension"
    if not (built / "package.json").is_file():
        pytest.fail(f"the lab extension is not built ({built}): run scripts/ui-deps.sh",
                    pytrace=False)
    where = config / "labextensions"
    where.mkdir(exist_ok=True)
    link = where / "caliban-jupyter"
    if not link.exists():
        link.symlink_to(built)
    return where


@contextmanager
def jupyter_server(module: str, root: Path, config: Path, env: dict[str, str],
                   args: Sequence[str] = (), *, caliban_server: bool = True
                   ) -> Iterator[dict[str, Any]]:
    """Run ``python -m module`` (``jupyterlab`` or ``notebook``) on 127.0.0.1 serving
    ``root``; yields ``{"url", "token", "root"}`` once it answers.

    ``config`` becomes its JUPYTER_CONFIG_DIR, with JupyterLab's news and update checks
    off (Notebook 7 loads the same server extension and announcements plugin) and the
    app exposed as ``window.jupyterapp``; user settings and workspaces live there too.
    """
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "open_browser": False, "allow_root": True,
                      # enabled on install too; explicit so a stale install cannot hide it
                      "jpserver_extensions": {"caliban_jupyter.server": caliban_server}},
        "LabApp": {"news_url": None, "expose_app_in_browser": True,
                   "extra_labextensions_path": [str(lab_extension(config))],
                   "check_for_updates_class":
                       "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
        "JupyterNotebookApp": {"expose_app_in_browser": True,
                               "extra_labextensions_path": [str(lab_extension(config))]},
        "CalibanApp": {"refresh_interval": 0.5, "max_refresh_interval": 2.0},
    }))
    # No "get notified about Jupyter news?" toast over the screenshots, no update checks.
    notification = config / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    app = {"jupyterlab": "LabApp", "notebook": "JupyterNotebookApp"}[module]
    token = secrets.token_hex(16)
    log = open(root.parent / f"{module}.log", "wb")  # noqa: SIM115 - closed below
    server = None
    try:
        # The free port can be taken by another process before the server binds it: the
        # server then exits (no retries on other ports, whose URL we would not know) and
        # starts again on a new one.
        for _attempt in range(5):
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", module, f"--port={port}", "--no-browser",
                 "--ServerApp.port_retries=0",
                 f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
                 f"--{app}.user_settings_dir={config / 'settings'}",
                 f"--{app}.workspaces_dir={config / 'workspaces'}", *args],
                cwd=root, env={**env, "JUPYTER_CONFIG_DIR": str(config)},
                stdout=log, stderr=subprocess.STDOUT)
            if wait_server(server, f"http://127.0.0.1:{port}/api/status?token={token}",
                           time.monotonic() + 90):
                break
        else:
            pytest.fail(f"{module} did not start: see {log.name}", pytrace=False)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()


def wait_server(server: subprocess.Popen, url: str, deadline: float) -> bool:
    """True once ``url`` answers; False if the server exited first (its port was taken)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            if server.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module")
def page(ui_env):
    """A headless chromium page that can reach only 127.0.0.1 and localhost."""
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

"""In real kernels, against an emulator that keeps jobs QUEUED (no containers run):

- ``%caliban_stop`` with no group stops only what this kernel submitted. The history is
  shared: a group another process submitted is never stopped without a question, asked
  through the kernel's stdin (``input()``), refused where the front end has no input box.
- The form's Submit, clicked twice the way a browser sends clicks (comm messages), submits
  once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.emulator import control
from caliban_jupyter.history import History
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.submit import submit_sweep
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

from .conftest import notebook_of
from .test_widgets_kernel import Kernel

pytestmark = [pytest.mark.kernel]

IMAGE = os.environ.get("CALIBAN_TEST_BASE_IMAGE", "caliban-base:bookworm-py3")
STOPPED = {"CANCELLING", "CANCELLED"}


@pytest.fixture
def shared(kernel_env: dict[str, str], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    """A private CALIBAN_HOME and a no-run emulator, for this process and its kernels."""
    home = tmp_path / "emu"
    endpoint = str(control.start(home, ["--port", "0", "--no-run"])["endpoint"])
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CALIBAN_ENDPOINT", endpoint)
    monkeypatch.setenv("CALIBAN_BACKEND", "local")
    (tmp_path / "train.py").write_text("print('trained')\n")
    try:
        yield LocalBackend(project="local", region="us-central1", endpoint=endpoint)
    finally:
        control.stop(home)


def submit_elsewhere(backend: LocalBackend, xgroup: str, n: int = 2) -> None:
    """A group submitted by another process (this test), into the shared history."""
    specs = [JobSpec(display_name=f"{xgroup}_{i}", index=i, region="us-central1",
                     image_uri=IMAGE, args=(), labels={"xgroup": xgroup, "job_name": xgroup},
                     machine=MachineSpec("n1-standard-4")) for i in range(1, n + 1)]
    with History() as history:
        submit_sweep(specs, backend, history, xgroup=xgroup)


def states(backend: LocalBackend, xgroup: str) -> list[str]:
    with History() as history:
        return [r.state for r in tracking.status(xgroup, backend=backend, history=history)]


@contextmanager
def kernel(cwd: Path) -> Iterator[Kernel]:
    """A kernel run by nbclient (no input box, like a batch run); errors are output."""
    from nbclient import NotebookClient

    nb = notebook_of()
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel():
        yield Kernel(client, nb)


def stdin_kernel(cwd: Path) -> Any:
    """A kernel whose client answers input requests (as JupyterLab does)."""
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name="python3", cwd=str(cwd))


def run_answering(kc: Any, code: str, answer: str) -> tuple[str, list[str]]:
    """Execute ``code``, answering every input request with ``answer``; returns the text
    the cell showed and the prompts it asked."""
    shown: list[str] = []
    prompts: list[str] = []

    def output(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            shown.append(content["text"])
        elif msg["msg_type"] == "error":
            shown.append(f"{content['ename']}: {content['evalue']}")
        elif msg["msg_type"] in ("execute_result", "display_data"):
            shown.append(content["data"].get("text/plain", ""))

    def stdin(msg: dict[str, Any]) -> None:
        prompts.append(msg["content"]["prompt"])
        kc.input(answer)

    kc.execute_interactive(code, allow_stdin=True, stdin_hook=stdin, output_hook=output,
                           timeout=300)
    return "".join(shown), prompts


def test_caliban_stop_stops_only_this_kernels_groups_or_asks(
        shared: LocalBackend, tmp_path: Path) -> None:
    submit_elsewhere(shared, "other-1")
    with kernel(tmp_path) as k:
        k.run("%load_ext caliban_jupyter")
        # Nothing submitted here, and nbclient (like a batch run) has no input box: refuse.
        out = k.run("%caliban_stop")
        assert "UsageError" in out and "--xgroup other-1" in out and "--yes" in out, out
        assert "other-1_1" in out  # the jobs it would have stopped were listed
        assert states(shared, "other-1") == ["QUEUED", "QUEUED"]
        assert "would stop" not in k.run("%caliban_stop --dry_run")  # a dry run never asks
        assert states(shared, "other-1") == ["QUEUED", "QUEUED"]

        k.run("import caliban_jupyter\n"
              f"mine = caliban_jupyter.cloud('print(x)', nogpu=True, image_tag={IMAGE!r}, "
              "xgroup='mine-a', experiment_config={'x': [1, 2]}, progress=lambda e: None)")
        assert states(shared, "mine-a") == ["QUEUED", "QUEUED"]
        submit_elsewhere(shared, "other-2")  # now the newest group in the shared history

        out = k.run("%caliban_stop")
        assert "mine-a: the newest this kernel submitted jobs to" in out, out
        assert set(states(shared, "mine-a")) <= STOPPED
        assert states(shared, "other-2") == ["QUEUED", "QUEUED"]
        assert states(shared, "other-1") == ["QUEUED", "QUEUED"]

    km, kc = stdin_kernel(tmp_path)
    try:
        run_answering(kc, "%load_ext caliban_jupyter", "")
        # A kernel that submitted nothing asks about the newest group, through its stdin.
        shown, prompts = run_answering(kc, "%caliban_stop", "n")
        assert prompts == ["Stop these 2 jobs? [y/N] "], shown
        assert "other-2, may be another kernel's or shell's" in shown
        assert "other-2_1" in shown and "nothing stopped" in shown
        assert states(shared, "other-2") == ["QUEUED", "QUEUED"]
        shown, prompts = run_answering(kc, "%caliban_stop", "y")
        assert len(prompts) == 1 and "asked 2 job(s) of group 'other-2' to stop" in shown
        assert set(states(shared, "other-2")) <= STOPPED
        # Named, nothing is asked: one job of the first group.
        shown, prompts = run_answering(kc, "%caliban_stop other-1_2", "")
        assert prompts == [] and "asked job other-1_2 to stop" in shown, shown
        first, second = states(shared, "other-1")
        assert first == "QUEUED" and second in STOPPED
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_form_submit_clicked_twice_submits_once(shared: LocalBackend,
                                                tmp_path: Path) -> None:
    with kernel(tmp_path) as k:
        k.run("from caliban_jupyter import form\n"
              "f = form('train.py', initial={'nogpu': True, 'xgroup': 'dbl', "
              f"'image_tag': {IMAGE!r}, 'experiment_config': {{'x': [1, 2]}}}}, "
              "table_options={'autostart': False})\nf")
        assert k.value("f.error") is None
        button = k.value("f.submit_button.model_id")
        kc = k.client.kc

        def click() -> None:
            # What a browser sends when the button is clicked.
            kc.shell_channel.send(kc.session.msg("comm_msg", {
                "comm_id": button, "data": {"method": "custom",
                                            "content": {"event": "click"}}}))

        click()
        click()  # a double click: both arrive before the button is disabled
        k.poll("f.table is not None or f.failure", bool, timeout=300)
        assert k.value("f.failure") is None
        click()  # a late second click, after the submission ended
        k.run("f.wait(60)")  # runs after the click: the shell channel keeps their order
        assert len(list(shared.list_group("dbl"))) == 2  # one sweep of 2 jobs, not 2 or 3
        assert states(shared, "dbl") == ["QUEUED", "QUEUED"]
        assert k.value("f.submit_button.disabled") is True
        assert k.value("f.submit_button.description") == "Submitted"

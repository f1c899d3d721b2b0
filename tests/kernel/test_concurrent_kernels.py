"""Two kernels submitting in the same second get two experiment groups: each sweep holds
only its own jobs, and stopping one leaves the other running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support import wait_for

from caliban_jupyter.history import History

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

# Both kernels import everything, say they are ready and wait at a gate the test opens early
# in a wall-clock second: their default group names are then made in the same second.
SUBMIT = """\
import os, pathlib, time
import caliban_jupyter, caliban_jupyter.service.plan, caliban_jupyter.backends.local
here = pathlib.Path({here!r})
(here / "ready-{me}").touch()
deadline = time.monotonic() + 600
while not (here / "gate").exists():
    assert time.monotonic() < deadline, "the gate never opened"
    time.sleep(0.005)
s = caliban_jupyter.cloud("train.py", nogpu=True, backend="local",
                          experiment_config={{"x": [1, 2], "sleep": [60]}})
print("GROUP", s.xgroup, sorted(j.index for j in s.jobs), flush=True)
(here / "submitted-{me}").write_text(s.xgroup)
"""


def wait_cell(here: Path, name: str) -> str:
    return (f"import pathlib, time\nd = time.monotonic() + 600\n"
            f"while not pathlib.Path({str(here / name)!r}).exists():\n"
            "    assert time.monotonic() < d\n    time.sleep(0.05)")


def test_two_kernels_in_the_same_second_get_their_own_groups(workdir: Path,
                                                             kernel_env) -> None:
    from caliban_jupyter.emulator.control import ensure_emulator

    ensure_emulator()  # one emulator for both kernels (they would each look for one)
    here = workdir
    # Kernel a stops its sweep once both have submitted; kernel b then looks at its own.
    nb_a = notebook_of(SUBMIT.format(here=str(here), me="a"), wait_cell(here, "submitted-b"),
                       "s.stop()\nprint('STOPPED', sorted(s.states))\n"
                       f"pathlib.Path({str(here / 'stopped-a')!r}).touch()")
    nb_b = notebook_of(SUBMIT.format(here=str(here), me="b"), wait_cell(here, "stopped-a"),
                       "s.refresh()\nprint('OTHER', sorted(s.states))\n_ = s.stop()")
    results: dict[str, object] = {}

    def run(name: str, nb) -> None:
        try:
            results[name] = run_notebook(nb, here, timeout=900)
        except BaseException as e:  # reported by the assertion below
            results[name] = e

    threads = [threading.Thread(target=run, args=(n, nb)) for n, nb in (("a", nb_a),
                                                                        ("b", nb_b))]
    for t in threads:
        t.start()
    wait_for(lambda: (here / "ready-a").exists() and (here / "ready-b").exists(),
             timeout=300, interval=0.05, what="both kernels to be ready")
    # Not a wait for a state: the gate opens early in a wall-clock second (see SUBMIT).
    deadline = time.monotonic() + 5
    while time.time() % 1 > 0.2 and time.monotonic() < deadline:
        time.sleep(0.01)
    (here / "gate").touch()
    for t in threads:
        t.join(timeout=1200)
    for name in "ab":
        assert not isinstance(results[name], BaseException), results[name]

    out_a = outputs_text(results["a"].cells[0])  # type: ignore[attr-defined]
    out_b = outputs_text(results["b"].cells[0])  # type: ignore[attr-defined]
    group_a = (here / "submitted-a").read_text()
    group_b = (here / "submitted-b").read_text()
    assert group_a != group_b
    assert f"GROUP {group_a} [1, 2]" in out_a and f"GROUP {group_b} [1, 2]" in out_b
    # Kernel a's stop cancelled its own jobs only.
    assert "STOPPED" in outputs_text(results["a"].cells[2])  # type: ignore[attr-defined]
    (other,) = [ln for ln in outputs_text(results["b"].cells[2]).splitlines()  # type: ignore[attr-defined]
                if ln.startswith("OTHER")]
    assert "CANCELLED" not in other and "CANCELLING" not in other, other
    with History() as history:
        for group in (group_a, group_b):
            jobs = history.jobs(group)
            assert sorted(j.index for j in jobs) == [1, 2]
            assert {j.labels["xgroup"] for j in jobs} == {group}

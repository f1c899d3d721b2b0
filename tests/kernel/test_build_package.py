"""`%%caliban_cloud --build package` from a kernel that has no Docker engine next to it.

The kernel's ``DOCKER_HOST`` points at nothing, as on Colab or a managed JupyterHub, so
nothing can be built from it; the local emulator (started here, on the real engine) runs
the code package on the base image through ``pythonPackageSpec``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from caliban_jupyter.emulator import Emulator, EmulatorConfig, RunnerConfig

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]


@pytest.fixture
def emulator(kernel_env, tmp_path: Path) -> Iterator[Emulator]:
    runner = RunnerConfig(mode="docker", max_running=2, stop_grace_seconds=2)
    emu = Emulator(EmulatorConfig(state_dir=tmp_path / "state", port=0, runner=runner)).start()
    yield emu
    emu.stop()


def test_package_sweep_from_a_cell_without_docker(emulator, kernel_env, tmp_path,
                                                   monkeypatch):
    cells = [
        "%load_ext caliban_jupyter",
        '%config Caliban.backend = "local"',
        f'%config Caliban.endpoint = "{emulator.endpoint}"',
        "def scale(x):\n    return 3 * x\ngrid = {'x': [1, 2]}",
        "%%caliban_cloud --nogpu --build package --experiment_config grid --xgroup kpkg\n"
        "print('RESULT', x, scale(x))",
        "s = _\ns.wait(timeout=600, poll=0.5)\nfor j in s.jobs:\n"
        "    spec = j.record.request['jobSpec']['workerPoolSpecs'][0]\n"
        "    print('JOB', j.state, ' '.join(j.args), '|', sorted(spec), '|', j.logs().strip())",
        "import caliban_jupyter\nprint('AGAIN', len(caliban_jupyter.cloud("
        "'print(1)', nogpu=True, build='package', xgroup='kpkg2').jobs))",
    ]
    # Only the kernel loses Docker: the emulator above already holds its engine client.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    nb = run_notebook(notebook_of(*cells), tmp_path, allow_errors=True)
    submit, wait, again = (outputs_text(c) for c in nb.cells[4:7])
    assert "uploading caliban_job-0+" in submit, submit
    assert "jobs run on caliban-base:bookworm-py3" in submit
    jobs = re.findall(r"JOB (\S+) (.*?) \| (.*?) \| (.*)", wait)
    assert [(state, args) for state, args, _, _ in jobs] == [
        ("SUCCEEDED", "--x 1"), ("SUCCEEDED", "--x 2")], wait
    assert {fields for _, _, fields, _ in jobs} == {
        "['machineSpec', 'pythonPackageSpec', 'replicaCount']"}
    assert [log for *_, log in jobs] == ["RESULT 1 3", "RESULT 2 6"]
    assert "AGAIN 1" in again, again
    # Docker was never reachable from the kernel, and nothing tried to build an image.
    assert "building" not in submit and "image" not in submit

"""Every test runs with its own caliban home, without Google's metadata probe and without a
proxy for loopback, whatever the shell that started pytest had set.

A test that needs another home sets ``CALIBAN_HOME`` with ``monkeypatch`` (tests/server
does, per test); that wins for the test's duration.

Under pytest-xdist (scripts/test.sh runs ``-n 4``) each worker is its own process with its
own home, so its own emulator (started once, by the first test that asks). Tests run in
parallel by default, one at a time to whichever worker is free; the tests of a module in
tests/integration, tests/kernel or tests/ui go to one worker together, in order, so a
module-scoped image, kernel or browser is made once and its tests never race each other.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import sample_project

#: The base image scripts/services.sh builds (a Debian python3 with Jupyter's kernel).
BASE_IMAGE = "caliban-base:bookworm-py3-nb"
_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    # Before any test module is imported: nothing may read ~/.caliban or reach the user's
    # emulator, and google-auth must not wait on a metadata server that is not there.
    global _home
    _home = Path(tempfile.mkdtemp(prefix="caliban-test-home."))
    os.environ["CALIBAN_HOME"] = str(_home)
    os.environ["NO_GCE_CHECK"] = "true"
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = "127.0.0.1,localhost"
    os.environ.setdefault("CALIBAN_TEST_BASE_IMAGE", BASE_IMAGE)


#: Fixtures that say what a test needs, whatever its marks: the quick subset
#: (``-m "not docker and not kernel and not ui"``) leaves it out.
NEEDS = {"docker_client": "docker", "registry": "docker", "base_image": "docker",
         "kernel_env": "kernel", "workdir": "kernel", "ui_env": "ui", "page": "ui"}
#: Directories whose modules each run on one worker, in order (see the module docstring),
#: started in this order: the slowest first, so none of them is left to run alone at the
#: end (tests/unit and tests/server, one test at a time, fill in around them).
GROUPED = ("ui", "integration", "kernel")
#: Modules known to take longest (``--durations``), started before the rest of their kind.
SLOWEST = ("tests/ui/test_lab_extension.py", "tests/integration/test_cloud_e2e.py",
           "tests/integration/test_nbconvert_export.py",
           "tests/integration/test_outputs_docker.py",
           "tests/integration/test_emulator_python_package.py",
           "tests/integration/test_export_roundtrip.py")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, mark in NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()) and not item.get_closest_marker(mark):
                item.add_marker(mark)


def work_unit(nodeid: str) -> str:
    """What a pytest-xdist worker is given at once: a whole module of tests/integration,
    tests/kernel or tests/ui, any other test alone."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return path if len(parts) > 2 and parts[0] == "tests" and parts[1] in GROUPED else nodeid


def _start_rank(unit: str) -> tuple[int, int]:
    if unit in SLOWEST:
        return 0, SLOWEST.index(unit)
    parts = unit.split("::", 1)[0].split("/")
    kind = parts[1] if len(parts) > 2 else ""
    return 1, GROUPED.index(kind) if kind in GROUPED else len(GROUPED)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, when it is installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``-n N`` (``--dist load``): :func:`work_unit`'s units, the slowest started first.

    (xdist's own ``loadgroup`` cannot be used: it renames test ids, which pytest 9.2 no
    longer lets it do.)
    """
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for explicitly
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):
        _started = False

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: object) -> None:
            if not self._started:  # the queue is complete: order it once
                ranked = sorted(self.workqueue.items(), key=lambda kv: _start_rank(kv[0]))
                self.workqueue.clear()
                self.workqueue.update(ranked)
                self._started = True
            super()._assign_work_unit(node)  # type: ignore[arg-type]

    config.option.loadscopereorder = False  # collection order within a rank
    return ModuleUnits(config, log)  # type: ignore[arg-type]


def pytest_unconfigure(config: pytest.Config) -> None:
    # A test with `--backend local` started an emulator for this home: stop it, remove the
    # containers of jobs still running (stopping leaves them for a next emulator), and the
    # home with them.
    global _home
    if _home is None:
        return
    home, _home = _home, None
    try:
        from support.emulator import remove_containers

        from caliban_jupyter.emulator.control import default_state_dir, stop

        stop(home)
        remove_containers(default_state_dir(home))
    except Exception as e:  # cleanup must not hide the run's result
        warnings.warn(f"could not stop the test emulator of {home}: {e}", stacklevel=1)
        return  # keep the home: it holds the emulator's record and logs
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A module project in ``tmp_path``: ``trainer/__init__.py`` and ``trainer/train.py``
    (prints its argv). A test module's own ``project`` fixture takes precedence."""
    return sample_project(tmp_path)


@pytest.fixture
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A job history of the test's own, closed after it (outside ``tmp_path``, which may
    be the ``project``)."""
    from caliban_jupyter.history import History

    with History(tmp_path_factory.mktemp("history") / "h.sqlite") as h:
        yield h

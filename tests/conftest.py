"""Every test runs with its own caliban home, without Google's metadata probe and without a
proxy for loopback, whatever the shell that started pytest had set.

A test that needs another home sets ``CALIBAN_HOME`` with ``monkeypatch`` (tests/server
does, per test); that wins for the test's duration.

Under pytest-xdist (scripts/test.sh runs ``-n 4 --dist loadgroup``) each worker is its own
process with its own home, so its own emulator (started once, by the first test that asks).
Tests run in parallel by default; the tests of a module in tests/integration, tests/kernel
or tests/ui go to one worker, in order (an ``xdist_group`` named after the module), so a
module-scoped image, kernel or browser is made once and its tests never race each other.
A test that must share a worker with another module's tests marks itself
``@pytest.mark.xdist_group("name")``.
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
#: Directories whose modules run each on one worker (see the module docstring).
GROUPED = ("integration", "kernel", "ui")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        for fixture, mark in NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()) and not item.get_closest_marker(mark):
                item.add_marker(mark)
        rel = item.path.relative_to(tests) if item.path.is_relative_to(tests) else None
        if (rel is not None and rel.parts[0] in GROUPED
                and not item.get_closest_marker("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(rel.with_suffix("").as_posix()))


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

"""Convert once: a submission loads and expands its experiments once, and builds each
CustomJob body once (the record keeps the body that is sent).

Counting wrappers around the real functions: the work itself runs as always.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_submit import FakeBackend, fast, specs

from caliban_jupyter.history import History
from caliban_jupyter.service.plan import CloudRequest, plan_from_request
from caliban_jupyter.service.submit import submit_sweep
from caliban_jupyter.spec import experiments as experiments_module
from caliban_jupyter.spec.jobs import JobSpec

CONFIG = {"lr": [0.1, 0.01], "depth": 3}
EXPANDED = [{"lr": 0.1, "depth": 3}, {"lr": 0.01, "depth": 3}]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "REGION", "CALIBAN_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of load_experiment_config and expand_experiment_config, by name."""
    calls: Counter[str] = Counter()
    for name in ("load_experiment_config", "expand_experiment_config"):
        real = getattr(experiments_module, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(experiments_module, name, counting)
    return calls


def test_a_plan_given_its_experiments_never_loads_them(project: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the experiments were loaded again")

    monkeypatch.setattr(experiments_module, "load_experiment_config", refuse)
    monkeypatch.setattr(experiments_module, "expand_experiment_config", refuse)
    request = CloudRequest(module="train.py", cwd=str(project), backend="local", nogpu=True,
                           experiment_config=CONFIG, dry_run=True)
    plan = plan_from_request(request, experiments=EXPANDED)
    assert [spec.args for spec in plan.specs] == [("--lr", "0.1", "--depth", "3"),
                                                   ("--lr", "0.01", "--depth", "3")]
    assert plan.experiments == tuple(EXPANDED)


def test_a_plan_without_them_loads_them_once(project: Path, counted: Counter[str]) -> None:
    request = CloudRequest(module="train.py", cwd=str(project), backend="local", nogpu=True,
                           experiment_config=CONFIG, dry_run=True)
    assert list(plan_from_request(request).experiments) == EXPANDED
    assert counted == {"load_experiment_config": 1, "expand_experiment_config": 1}


def test_a_notebook_submission_loads_its_experiments_once(
        project: Path, counted: Counter[str]) -> None:
    import caliban_jupyter

    dry = caliban_jupyter.cloud("train.py", backend="local", nogpu=True, dry_run=True,
                                experiment_config=CONFIG)
    assert [s.experiment for s in dry.specs] == EXPANDED
    assert counted == {"load_experiment_config": 1, "expand_experiment_config": 1}


def test_a_cell_submission_loads_its_experiments_once(
        project: Path, counted: Counter[str]) -> None:
    from caliban_jupyter.notebook.api import run_cloud
    from caliban_jupyter.notebook.args import cloud_parser, parse_line

    args = parse_line(cloud_parser(), "--backend local --nogpu --dry_run --experiment_config g")
    dry = run_cloud(args, code="print(lr * depth)", history=[""], user_ns={"g": CONFIG},
                    cwd=str(project))
    assert [s.experiment for s in dry.specs] == EXPANDED
    assert dry.plan.request.program_parameters == ("lr", "depth")
    assert counted == {"load_experiment_config": 1, "expand_experiment_config": 1}


def test_a_program_form_loads_its_experiments_once_per_plan(
        project: Path, counted: Counter[str]) -> None:
    from caliban_jupyter.notebook.args import cloud_parser
    from caliban_jupyter.notebook.forms import program_form

    form = program_form("print(lr * depth)", [""], cloud_parser("t").parse_args([]),
                        {"backend": "local", "nogpu": True, "experiment_config": CONFIG},
                        cwd=str(project))
    assert form.plan is not None and list(form.plan.experiments) == EXPANDED
    counted.clear()
    assert form.validate() is not None
    assert counted == {"load_experiment_config": 1, "expand_experiment_config": 1}
    assert form.plan.request.program_parameters == ("lr", "depth")


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every CustomJob body built, in order."""
    built: list[dict[str, Any]] = []
    real = JobSpec.to_custom_job

    def counting(self: JobSpec) -> dict[str, Any]:
        body = real(self)
        built.append(body)
        return body

    monkeypatch.setattr(JobSpec, "to_custom_job", counting)
    return built


def test_each_job_body_is_built_once_and_recorded_as_sent(
        tmp_path: Path, bodies: list[dict[str, Any]]) -> None:
    backend = FakeBackend()
    with History(tmp_path / "h.sqlite") as history:
        records = submit_sweep(specs(3), backend, history, xgroup="g1", retry=fast())
        recorded = history.jobs("g1")
    assert len(bodies) == 3
    # The bodies built are the ones sent and the ones recorded.
    assert [r.request for r in records] == bodies
    assert sorted((r.request for r in recorded), key=lambda b: b["displayName"]) == bodies
    created = {job["displayName"]: job for job in backend.jobs.values()}
    assert [{k: created[b["displayName"]][k] for k in b} for b in bodies] == bodies


def test_the_server_dry_run_builds_each_body_once(
        project: Path, bodies: list[dict[str, Any]]) -> None:
    from caliban_jupyter.server.adapter import dry_run

    request = CloudRequest(module="train.py", cwd=str(project), backend="local", nogpu=True,
                           experiment_config=CONFIG, dry_run=True)
    out = dry_run(plan_from_request(request))
    assert len(bodies) == 2 and out["requests"] == bodies
    assert [job["args"] for job in out["jobs"]] == [list(b["jobSpec"]["workerPoolSpecs"][0]
                                                         ["containerSpec"]["args"])
                                                    for b in bodies]

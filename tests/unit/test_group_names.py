"""Default experiment group names are unique: claimed atomically in the shared history,
also against the job service's labels, by any number of processes at once."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from caliban_jupyter import events as ev
from caliban_jupyter.history import History
from caliban_jupyter.service.group_names import claim_group
from caliban_jupyter.service.plan import CloudRequest, Plan, plan_from_request

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


class Labels:
    """The one backend call claiming needs: which groups have jobs on the service."""

    name = "local"
    project = "p"
    region = "us-central1"

    def __init__(self, taken: tuple[str, ...] = ()) -> None:
        self.taken = set(taken)
        self.asked: list[str] = []

    def list_group(self, xgroup: str) -> Any:
        self.asked.append(xgroup)
        return iter([{"name": f"jobs/{xgroup}"}] if xgroup in self.taken else [])


def plan_for(tmp: Path, xgroup: str | None = None) -> Plan:
    (tmp / "train.py").write_text("print(1)\n")
    return plan_from_request(CloudRequest(module="train.py", backend="local", nogpu=True,
                                          xgroup=xgroup, cwd=str(tmp), env={}), now=NOW)


def test_the_default_name_is_the_user_and_the_second(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    assert plan.xgroup.endswith("-xgroup-2026-01-02-03-04-05")
    with History(tmp_path / "h.sqlite") as history:
        assert claim_group(plan, Labels(), history) == plan.xgroup
        assert history.group(plan.xgroup) is not None  # the claim is recorded


def test_a_name_recorded_by_another_submission_gets_a_suffix(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    events: list[ev.Event] = []
    with History(tmp_path / "h.sqlite") as history:
        history.add_group(plan.xgroup, backend="local", project="p", region="us-central1")
        assert claim_group(plan, Labels(), history, progress=events.append) == \
            f"{plan.xgroup}-2"
        assert claim_group(plan, Labels(), history) == f"{plan.xgroup}-3"
    assert [e.message for e in events] == [
        f"experiment group {plan.xgroup} is taken by another submission: this one is "
        f"{plan.xgroup}-2"]


def test_a_name_on_the_job_service_counts_as_taken(tmp_path: Path) -> None:
    """Another machine's submission is not in this history, but its labels are in the cloud."""
    plan = plan_for(tmp_path)
    backend = Labels(taken=(plan.xgroup, f"{plan.xgroup}-2"))
    with History(tmp_path / "h.sqlite") as history:
        assert claim_group(plan, backend, history) == f"{plan.xgroup}-3"
    assert backend.asked == [plan.xgroup, f"{plan.xgroup}-2", f"{plan.xgroup}-3"]
    # The listing execute() already made for the base name is not repeated.
    backend = Labels()
    with History(tmp_path / "h2.sqlite") as history:
        assert claim_group(plan, backend, history, listed=True) == f"{plan.xgroup}-2"
    assert backend.asked == [f"{plan.xgroup}-2"]


def test_a_group_named_with_xgroup_is_used_as_given(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, xgroup="mine")
    backend = Labels(taken=("mine",))
    with History(tmp_path / "h.sqlite") as history:
        history.add_group("mine", backend="local", project="p", region="us-central1")
        assert claim_group(plan, backend, history) == "mine"  # adding to it is intended
    assert backend.asked == []


def test_suffixed_names_stay_label_values(tmp_path: Path) -> None:
    from dataclasses import replace

    plan = replace(plan_for(tmp_path), xgroup="x" * 63)
    with History(tmp_path / "h.sqlite") as history:
        history.add_group("x" * 63, backend="local", project="p", region="r")
        name = claim_group(plan, Labels(), history)
    assert name == "x" * 61 + "-2" and len(name) == 63


def _claimer(args: tuple[Path, Plan, int]) -> list[str]:
    path, plan, count = args
    with History(path) as history:
        return [claim_group(plan, Labels(), history) for _ in range(count)]


def test_processes_claiming_the_same_second_get_distinct_groups(tmp_path: Path) -> None:
    """Four processes submitting five sweeps each, all planned in the same second."""
    plan = plan_for(tmp_path)
    path = tmp_path / "h.sqlite"
    History(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        claimed = [n for names in pool.map(_claimer, [(path, plan, 5)] * 4) for n in names]
    assert len(claimed) == 20 and len(set(claimed)) == 20
    assert set(claimed) == {plan.xgroup, *(f"{plan.xgroup}-{n}" for n in range(2, 21))}


def test_a_claim_is_released_only_while_it_has_no_jobs(tmp_path: Path) -> None:
    from test_history import record

    with History(tmp_path / "h.sqlite") as history:
        assert history.claim_group("empty", backend="local", project="p", region="r")
        assert not history.claim_group("empty", backend="local", project="p", region="r")
        history.add_experiments("empty", [(1, ["--a"], {"a": 1})])
        assert history.release_group("empty")
        assert history.group("empty") is None and history.experiments("empty") == []
        assert history.claim_group("used", backend="local", project="p", region="r")
        history.put_job(record(1, xgroup="used"))
        assert not history.release_group("used")
        assert history.group("used") is not None


@pytest.mark.parametrize("names, typo, expected", [
    (["lr-sweep", "me-xgroup-2026-01-02-03-04-05", "other"], "lr-swep", ["lr-sweep"]),
    (["a", "b"], "zzzz", []),
])
def test_nearest_recorded_groups(tmp_path: Path, names, typo, expected) -> None:
    from caliban_jupyter.service.lookup import nearest_groups

    with History(tmp_path / "h.sqlite") as history:
        for name in names:
            history.add_group(name, backend="local", project="p", region="r")
        assert nearest_groups(typo, history) == expected


def test_a_reserved_plan_names_its_group_before_submitting(tmp_path: Path) -> None:
    """What the Jupyter server does before answering 202: the name is claimed in the
    history at once, and execute() later submits into it without claiming again."""
    from caliban_jupyter.service.group_names import reserve_group

    plan = plan_for(tmp_path)
    with History(tmp_path / "h.sqlite") as history:
        first = reserve_group(plan, history)
        second = reserve_group(plan, history)
        assert (first.xgroup, second.xgroup) == (plan.xgroup, f"{plan.xgroup}-2")
        assert first.claimed and second.claimed
        assert {s.labels["xgroup"] for s in second.specs} == {f"{plan.xgroup}-2"}
        assert history.group(f"{plan.xgroup}-2").project == "local"
        # Claimed already: neither the history nor the job service is asked again.
        backend = Labels(taken=(second.xgroup,))
        assert claim_group(second, backend, history) == second.xgroup
        assert backend.asked == []
        assert reserve_group(second, history) is second


def test_the_server_answers_with_the_group_its_jobs_go_to(tmp_path: Path,
                                                          monkeypatch) -> None:
    """Two notebook submissions planned in the same second, started on the server's
    pool: each is listed under its own group. Nothing listens on the endpoint, so both
    fail before anything is recorded, and give their names back."""
    from concurrent.futures import ThreadPoolExecutor

    from caliban_jupyter.server.submissions import Submissions

    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    (tmp_path / "train.py").write_text("print(1)\n")
    plan = plan_from_request(CloudRequest(module="train.py", backend="local", nogpu=True,
                                          endpoint="http://127.0.0.1:1", cwd=str(tmp_path),
                                          env={}), now=NOW)
    pool = ThreadPoolExecutor(2)
    submissions = Submissions(pool)
    started = [submissions.start(plan, "a.ipynb"), submissions.start(plan, "b.ipynb")]
    pool.shutdown(wait=True)
    assert [s.xgroup for s in started] == [plan.xgroup, f"{plan.xgroup}-2"]
    assert [submissions.get(s.xgroup) for s in started] == started
    assert all(s.state == "failed" and "127.0.0.1:1" in (s.error or "") for s in started)
    with History(tmp_path / "home" / "history.sqlite") as history:
        assert history.group_names() == []  # both claims given back

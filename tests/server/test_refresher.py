"""The server's one refresher: only unfinished groups, one listing each when due, backing
off while nothing changes; however many clients poll, the job service sees one reader."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from caliban_jupyter.history import History
from caliban_jupyter.server.refresher import Refresher
from caliban_jupyter.service.groups import JobGroup

from .conftest import job


class CountingBackend:
    """The read side of the backend protocol over CustomJob JSON; counts listings."""

    name, project, region = "local", "local", "us-central1"

    def __init__(self, jobs: dict[str, dict[str, Any]]):
        self.jobs, self.listings = jobs, []

    def list_group(self, xgroup):
        self.listings.append(xgroup)
        return iter([j for j in self.jobs.values() if j["labels"]["xgroup"] == xgroup])

    def job_url(self, name):
        return f"http://emulator/{name}"


def custom_job(record, state: str) -> dict[str, Any]:
    return {"name": record.resource_name, "displayName": record.display_name,
            "state": f"JOB_STATE_{state}", "labels": {"xgroup": record.xgroup,
                                                      "caliban_index": str(record.index),
                                                      "caliban_sid": record.submission_id}}


def seed(history: History) -> CountingBackend:
    records = {"live": job("live", 1, "RUNNING"), "done": job("done", 1, "SUCCEEDED")}
    for xgroup, record in records.items():
        history.add_group(xgroup, backend="local", project="local", region="us-central1")
        history.put_job(record)
    return CountingBackend({x: custom_job(r, "RUNNING" if x == "live" else "SUCCEEDED")
                            for x, r in records.items()})


def test_only_unfinished_groups_are_listed_and_unchanged_ones_back_off(caliban_home):
    with History() as history, ThreadPoolExecutor(1) as pool:
        backend = seed(history)
        refresher = Refresher(history, lambda: None, pool, interval=10, max_interval=40,
                              backoff=2, group_for=lambda x: JobGroup(x, backend=backend,
                                                                      history=history))
        refresher.run_round()
        assert backend.listings == ["live"]  # "done" is finished: never listed
        refresher.run_round()
        assert backend.listings == ["live"]  # not due yet (10 s after a refresh)
        assert refresher._due["live"].interval == 20  # nothing changed: backing off
        refresher.wake("live")  # an action on the group: due now
        backend.jobs["live"]["state"] = "JOB_STATE_SUCCEEDED"
        refresher.run_round()
        assert backend.listings == ["live", "live"]
        assert history.state_counts(["live"]) == {"live": {"SUCCEEDED": 1}}
        refresher.wake()
        refresher.run_round()  # now finished: no more listings
        assert backend.listings == ["live", "live"]
        assert refresher._due["live"].refreshed


async def test_many_clients_polling_cost_the_job_service_one_reader(jp_serverapp, jp_fetch,
                                                                    caliban_home):
    with History() as history:
        backend = seed(history)
    app = jp_serverapp.extension_manager.extension_apps["caliban_jupyter.server"]
    refresher = next(iter(app)).refresher
    refresher.group_for = lambda x: JobGroup(x, backend=backend, history=refresher.history)
    refresher.interval = refresher.max_interval = 3600  # one refresh per group, then wait

    async def client() -> None:
        for _ in range(5):
            await jp_fetch("caliban", "api", "groups")
            await jp_fetch("caliban", "api", "groups", "live")

    await asyncio.gather(*(client() for _ in range(10)))  # 100 requests
    for _ in range(100):
        if refresher.stats.refreshes:
            break
        await asyncio.sleep(0.05)
    assert backend.listings == ["live"]
    assert refresher.stats.rounds >= 1
    # The answers were computed once per change of the history, not once per request.
    assert app_builds(jp_serverapp) <= 6


def app_builds(serverapp) -> int:
    app = next(iter(serverapp.extension_manager.extension_apps["caliban_jupyter.server"]))
    return app.cache.builds

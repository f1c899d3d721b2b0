"""The REST routes over a recorded history (no job service needed): listing, paging,
ETags, 404s and the 400s a user mistake gets, with the message the CLI prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from caliban_jupyter.history import History


def notebook(path, *cells, tagged: int | None = None) -> str:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    if tagged is not None:
        nb.cells[tagged].metadata["tags"] = ["parameters"]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path.name


# -- groups ---------------------------------------------------------------------------------

async def test_groups_newest_first_each_job_counted_once(api, seeded):
    status, body = await api("GET", "groups")
    assert status == 200
    assert [g["xgroup"] for g in body["groups"]] == ["g-new", "g-mid", "g-old"]
    new = body["groups"][0]
    # index 2 FAILED then its retry SUCCEEDED: two jobs, both SUCCEEDED.
    assert (new["total"], new["counts"], new["finished"]) == (2, {"SUCCEEDED": 2}, True)
    assert body["groups"][2]["counts"] == {"SUCCEEDED": 1, "FAILED": 1}
    assert {"backend", "created", "project", "region"} <= set(new)
    assert "next_page_token" not in body


async def test_groups_are_paged(api, seeded):
    status, first = await api("GET", "groups", params={"page_size": "2"})
    assert status == 200 and [g["xgroup"] for g in first["groups"]] == ["g-new", "g-mid"]
    status, second = await api("GET", "groups", params={
        "page_size": "2", "page_token": first["next_page_token"]})
    assert [g["xgroup"] for g in second["groups"]] == ["g-old"]
    assert "next_page_token" not in second


@pytest.mark.parametrize(("params", "message"), [
    ({"page_size": "0"}, "page_size takes a whole number of at least 1, not '0'"),
    ({"page_size": "many"}, "page_size takes a whole number of at least 1, not 'many'"),
    ({"page_token": "xyz"}, "page_token 'xyz' is not one this server gave"),
])
async def test_bad_paging_is_a_400(api, seeded, params, message):
    status, body = await api("GET", "groups", params=params)
    assert status == 400 and body["message"].startswith(message)


async def test_group_detail_latest_attempts_and_all_attempts(api, seeded):
    status, body = await api("GET", "groups", "g-new")
    assert status == 200
    assert [j["display_name"] for j in body["jobs"]] == ["caliban_t_g-new_1",
                                                        "caliban_t_g-new_2-retry1"]
    job = body["jobs"][0]
    assert job["state"] == "SUCCEEDED" and job["args"] == ["--lr", "1"]
    assert {"labels", "machine", "created", "url", "resource_name"} <= set(job)
    assert "request" not in job  # kilobytes per job; ?full=1 has it
    status, full = await api("GET", "groups", "g-new", params={"full": "1",
                                                               "all_attempts": "1"})
    assert len(full["jobs"]) == 3 and full["jobs"][0]["request"]["displayName"]


async def test_unknown_group_or_job_is_a_json_404(api, seeded):
    for method, path in [("GET", ("groups", "nope")), ("POST", ("groups", "nope", "stop")),
                         ("POST", ("groups", "nope", "resubmit")),
                         ("GET", ("jobs", "no_such_job", "logs"))]:
        status, body = await api(method, *path)
        assert status == 404, path
        assert "nope" in body["message"] or "no_such_job" in body["message"]
    status, body = await api("POST", "groups", "g-new", "stop", body={"jobs": ["ghost"]})
    assert status == 404 and body["message"].startswith("no job named 'ghost' in experiment "
                                                        "group 'g-new'")


@pytest.mark.parametrize(("action", "body", "message"), [
    ("stop", "{not json", "the request body is not JSON"),
    ("stop", "[1, 2]", "the request body must be a JSON object, not list"),
    ("stop", {"jobs": "caliban_t_g-new_1"}, '"jobs" takes a list of job display names'),
    ("stop", {"all_jobs": True}, "stop: unknown field 'all_jobs'; it takes jobs"),
    ("resubmit", {"all_jobs": "yes"}, '"all_jobs" takes true or false'),
])
async def test_bad_action_bodies_are_400s(api, seeded, action, body, message):
    status, reply = await api("POST", "groups", "g-new", action, body=body)
    assert status == 400 and reply["message"].startswith(message)


async def test_logs_bad_tail_is_a_400(api, seeded):
    status, body = await api("GET", "jobs", "caliban_t_g-new_1", "logs", params={"tail": "-1"})
    assert status == 400 and body["message"] == "tail takes a whole number of at least 0, " \
                                                "not '-1'"


async def test_unchanged_group_answers_304_to_its_etag(api, jp_fetch, seeded):
    first = await jp_fetch("caliban", "api", "groups", "g-new")
    etag = first.headers["Etag"]
    again = await jp_fetch("caliban", "api", "groups", "g-new", raise_error=False,
                           headers={"If-None-Match": etag})
    assert again.code == 304 and not again.body
    with History() as history:  # another process records a change: a new body, new ETag
        history.put_job(history.jobs("g-new")[0].evolve(state="CANCELLED"))
    changed = await jp_fetch("caliban", "api", "groups", "g-new", raise_error=False,
                             headers={"If-None-Match": etag})
    assert changed.code == 200 and changed.headers["Etag"] != etag


# -- catalog, config, parameters ------------------------------------------------------------

async def test_catalog_choices_follow_the_selection(api):
    status, body = await api("GET", "catalog")
    assert status == 200 and body["kinds"] == ["GPU", "TPU", "none"]
    assert "V100" in body["accelerators"] and body["catalog"]["as_of"]
    _, v100 = await api("GET", "catalog", params={"accelerator": "V100"})
    assert v100["counts"] == [1, 2, 4, 8]
    _, one = await api("GET", "catalog", params={"accelerator": "V100", "count": "1"})
    assert set(one["machine_types"]) < set(v100["machine_types"])
    _, a100 = await api("GET", "catalog", params={"accelerator": "A100", "count": "2"})
    assert a100["machine_types"] == ["a2-highgpu-2g"]
    assert set(v100["regions"]) < set(body["regions"])
    _, cpu = await api("GET", "catalog", params={"kind": "none"})
    assert cpu["counts"] == [] and "n1-highcpu-32" in cpu["machine_types"]
    status, bad = await api("GET", "catalog", params={"kind": "FPGA"})
    assert status == 400 and bad["message"] == "kind must be one of GPU, TPU, none, not 'FPGA'"


async def test_config_says_where_each_setting_comes_from(api, jp_root_dir, monkeypatch):
    monkeypatch.setenv("CALIBAN_BACKEND", "local")
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "sub" / ".calibanconfig.json").write_text('{"region": "europe-west4"}')
    notebook(jp_root_dir / "sub" / "nb.ipynb", "x = 1")
    status, body = await api("GET", "config")
    rows = {r["name"]: r for r in body["settings"]}
    assert rows["backend"] == {"name": "backend", "value": "local",
                               "source": "environment CALIBAN_BACKEND"}
    assert rows["region"]["source"] == "default"
    _, sub = await api("GET", "config", params={"notebook": "sub/nb.ipynb"})
    region = {r["name"]: r for r in sub["settings"]}["region"]
    assert region == {"name": "region", "value": "europe-west4",
                      "source": ".calibanconfig.json"}


async def test_parameters_of_the_tagged_cell(api, jp_root_dir):
    notebook(jp_root_dir / "p.ipynb", "import math", "lr = 0.1\nepochs: int = 3\nname = 'a'",
             "print(lr)", tagged=1)
    status, body = await api("GET", "parameters", params={"notebook": "p.ipynb"})
    assert status == 200 and body["parameters"] == [
        {"name": "lr", "value": "0.1"}, {"name": "epochs", "value": "3"},
        {"name": "name", "value": "'a'"}]


# -- submissions: user mistakes and dry runs --------------------------------------------------

async def test_notebook_paths_stay_inside_the_root(api, jp_root_dir, tmp_path):
    outside = tmp_path / "outside.ipynb"
    notebook(outside, "x = 1")
    (jp_root_dir / "link.ipynb").symlink_to(outside)
    cases = {
        "../outside.ipynb": (400, "notebook '../outside.ipynb' is outside the server's root"),
        "a/../../outside.ipynb": (400, "notebook 'a/../../outside.ipynb' is outside"),
        "link.ipynb": (400, "notebook 'link.ipynb' is outside the server's root"),
        "missing.ipynb": (404, "notebook 'missing.ipynb' does not exist"),
        "notes.txt": (400, "notebook 'notes.txt' is not a .ipynb file"),
    }
    for path, (code, message) in cases.items():
        for route in ("submissions", "parameters"):
            if route == "submissions":
                status, body = await api("POST", route, body={"notebook": path, "dry_run": True})
            else:
                status, body = await api("GET", route, params={"notebook": path})
            assert (status, body["message"][:len(message)]) == (code, message), (route, path)


def cli_message(cwd, *argv: str) -> str:
    """The one-line error `caliban cloud` prints for the same request."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", "cloud", *argv],
                         cwd=cwd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    return out.stderr.strip().removeprefix("caliban cloud: error: ")


@pytest.mark.parametrize(("options", "argv"), [
    ({"backend": "local", "nogpu": True, "gpu_spec": "2xV100"},
     ["--backend", "local", "--nogpu", "--gpu_spec", "2xV100"]),
    ({"backend": "local", "gpu_spec": "3xV100"}, ["--backend", "local", "--gpu_spec", "3xV100"]),
    ({"backend": "vertex"}, ["--backend", "vertex"]),
    ({"backend": "local", "nogpu": True, "xgroup": "Bad Group"},
     ["--backend", "local", "--nogpu", "--xgroup", "Bad Group"]),
])
async def test_plan_mistakes_are_400s_with_the_cli_message(api, jp_root_dir, options, argv):
    name = notebook(jp_root_dir / "nb.ipynb", "print(1)")
    status, body = await api("POST", "submissions", body={"notebook": name,
                                                          "options": options})
    assert status == 400
    assert body["message"] == cli_message(jp_root_dir, *argv, "--dry_run", name)


@pytest.mark.parametrize(("body", "message"), [
    ({"options": {"bogus": 1}}, "options: unknown option 'bogus'. Valid options: "),
    ({"options": {"nogpu": "yes"}}, "options: option 'nogpu' takes True or False"),
    ({"options": {"backend": "mars"}}, "options: option 'backend' must be one of 'vertex'"),
    ({"options": []}, '"options" takes an object of caliban cloud flags'),
    ({"script_args": "--x 1"}, '"script_args" takes a list of strings'),
    ({"dry_run": "yes"}, '"dry_run" takes true or false'),
    ({"notebok": "x"}, "unknown field 'notebok'; a submission takes notebook"),
    ({"options": {"backend": "local", "experiment_config": '{\n  "lr": [0.1, oops]\n}'}},
     "experiment_config: invalid JSON at line 2, column"),
    ({"options": {"backend": "local", "experiment_config": {"lr": []}}},
     "key 'lr' has an empty list, which would expand to zero jobs"),
])
async def test_submission_body_mistakes_are_400s(api, jp_root_dir, body, message):
    name = notebook(jp_root_dir / "nb.ipynb", "print(1)")
    status, reply = await api("POST", "submissions", body={"notebook": name, **body})
    assert status == 400, reply
    assert message in reply["message"], reply["message"]


async def test_dry_run_lists_the_jobs_and_bodies_and_builds_nothing(api, jp_root_dir,
                                                                    caliban_home):
    name = notebook(jp_root_dir / "nb.ipynb", "lr = 0.1", "print('RESULT', lr)", tagged=0)
    status, body = await api("POST", "submissions", body={
        "notebook": name, "dry_run": True,
        "options": {"backend": "local", "nogpu": True, "xgroup": "dry-one",
                    "experiment_config": '{\n  // two jobs\n  "lr": [0.5, 0.01]\n}'}})
    assert status == 200, body
    assert body["xgroup"] == "dry-one" and len(body["jobs"]) == 2
    assert [j["args"] for j in body["jobs"]] == [["--lr", "0.5"], ["--lr", "0.01"]]
    assert all(j["state"] == "NOT_SUBMITTED" for j in body["jobs"])
    assert body["requests"][0]["labels"]["xgroup"] == "dry-one"
    assert body["requests"][0]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"] == [
        "--lr", "0.5"]
    assert body["image"].endswith(":<content-hash>")
    with History() as history:
        assert history.group("dry-one") is None  # nothing recorded
    status, groups = await api("GET", "groups")
    assert groups["groups"] == []
    assert json.dumps(body)  # plain JSON all through


async def test_a_group_being_submitted_is_not_finished(api, caliban_home):
    """Submissions record their jobs NOT_SUBMITTED (the pending reason) before creating
    them: such a group is under way, not finished; once every outcome is recorded, a
    refused job (NOT_SUBMITTED with its reason) or an interrupted one counts as done."""
    from caliban_jupyter.records import NOT_SUBMITTED
    from caliban_jupyter.service.submit import INTERRUPTED_REASON, PENDING_REASON

    from .conftest import job

    with History() as history:
        history.add_group("g-sub", backend="local", project="local", region="us-central1")
        history.put_jobs([job("g-sub", 1, NOT_SUBMITTED).evolve(error=PENDING_REASON),
                          job("g-sub", 2, "SUCCEEDED")])

    async def finished() -> tuple[bool, bool]:
        _, listed = await api("GET", "groups")
        _, detail = await api("GET", "groups", "g-sub")
        return listed["groups"][0]["finished"], detail["finished"]

    assert await finished() == (False, False)
    for reason in ("quota exceeded", INTERRUPTED_REASON):
        with History() as history:
            history.put_jobs([job("g-sub", 1, NOT_SUBMITTED).evolve(error=reason)])
        assert await finished() == (True, True)

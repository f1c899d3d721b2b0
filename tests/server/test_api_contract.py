"""The server's JSON and the lab extension's TypeScript types agree: both come from one
schema, ``caliban_jupyter/server/api.schema.json``.

Here, the real server's replies (over HTTP, from a recorded history and a real dry run)
are checked against the schema, whose objects list every key (a key the server adds and
the schema lacks fails). The lab extension's types (``labextension/src/apitypes.ts``) are
generated from the same file; its header carries the schema's digest, checked below, and
``jlpm build`` refuses a stale file.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from support.api_schema import SCHEMA, SCHEMA_PATH
from support.api_schema import check_reply as check

jsonschema = pytest.importorskip("jsonschema")

LAB = Path(__file__).resolve().parents[2] / "labextension" / "src"
TYPES = LAB / "apitypes.ts"
FLAGS_SCHEMA = json.loads(SCHEMA_PATH.with_name("flags.schema.json").read_text())
#: The dialog's flags from a server without GET flags (an older one).
FALLBACK = json.loads((LAB / "fallback-flags.json").read_text())


def test_the_schema_is_valid_and_the_lab_types_are_generated_from_it():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    flags = hashlib.sha256(SCHEMA_PATH.with_name("flags.schema.json").read_bytes())
    header = TYPES.read_text()
    stale = ("labextension/src/apitypes.ts is not generated from the current schemas: run "
             "`jlpm build:types` in labextension/")
    assert re.search(r"\n \* schema sha256: ([0-9a-f]{64})", header).group(1) == digest, stale
    assert re.search(r"flags schema sha256: ([0-9a-f]{64})", header).group(1) == \
        flags.hexdigest(), stale


async def test_the_dialogs_own_flags_are_the_servers(api):
    """The flags the dialog falls back on follow the flag schema, and where the server
    serves GET flags, each is a lab flag the server lists, with the same type and
    choices."""
    jsonschema.Draft202012Validator(FLAGS_SCHEMA).validate(FALLBACK)
    assert all("lab" in f["surfaces"] for f in FALLBACK["flags"])
    from caliban_jupyter.server.handlers import ROUTES

    if "flags" not in [route for route, _ in ROUTES]:
        pytest.skip("this server has no GET flags (the dialog uses its own flags)")
    status, served = await api("GET", "flags")
    assert status == 200
    jsonschema.Draft202012Validator(FLAGS_SCHEMA).validate(served)
    lab = {f["name"]: f for f in served["flags"] if "lab" in f["surfaces"]}
    for flag in FALLBACK["flags"]:
        assert flag["name"] in lab, flag["name"]
        assert (flag["type"], flag["choices"]) == (lab[flag["name"]]["type"],
                                                   lab[flag["name"]]["choices"])


def test_the_schema_refuses_a_key_it_does_not_list(seeded):
    record = seeded["g-old"][0].to_json()
    record.pop("request")
    record["notebook_url"] = None
    check(record, "IJob")
    with pytest.raises(jsonschema.ValidationError, match="'surprise' was unexpected"):
        check({**record, "surprise": 1}, "IJob")
    with pytest.raises(jsonschema.ValidationError, match="'state' is a required"):
        check({k: v for k, v in record.items() if k != "state"}, "IJob")


async def test_the_groups_routes_answer_as_the_schema_says(api, seeded):
    status, body = await api("GET", "groups")
    assert status == 200 and body["groups"]
    check(body, "IGroupsReply")
    status, body = await api("GET", "groups", params={"page_size": "1"})
    assert "next_page_token" in body
    check(body, "IGroupsReply")
    for params in ({}, {"all_attempts": "1", "full": "1"}):
        status, body = await api("GET", "groups", "g-new", params=params)
        assert status == 200 and body["jobs"]
        check(body, "IGroupDetail")
    status, body = await api("GET", "groups", "nope")
    assert status == 404
    check(body, "IMessage")
    status, body = await api("GET", "jobs", "no_such_job", "logs")
    assert status == 404
    check(body, "IMessage")


async def test_the_dialog_routes_answer_as_the_schema_says(api, jp_root_dir, caliban_home):
    nb = new_notebook(cells=[new_code_cell("lr = 0.1"), new_code_cell("print(lr)")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    status, body = await api("GET", "parameters", params={"notebook": "nb.ipynb"})
    assert status == 200 and body["parameters"] == [{"name": "lr", "value": "0.1"}]
    check(body, "IParametersReply")
    for params in ({}, {"kind": "GPU", "accelerator": "V100", "count": "2"},
                   {"kind": "TPU"}, {"kind": "none"}):
        status, body = await api("GET", "catalog", params=params)
        assert status == 200, body
        check(body, "ICatalogChoices")
    status, body = await api("POST", "submissions", body={
        "notebook": "nb.ipynb", "dry_run": True,
        "options": {"backend": "local", "nogpu": True, "xgroup": "dry-contract",
                    "experiment_config": {"lr": [0.5, 0.01]}}})
    assert status == 200 and len(body["jobs"]) == 2, body
    check(body, "IDryRun")  # with its cost object where the server estimates one
    status, body = await api("POST", "submissions", body={"notebook": "nb.ipynb",
                                                          "options": {"gpu_spec": "9xK1"}})
    assert status == 400
    check(body, "IMessage")

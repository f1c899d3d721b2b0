"""``GET /caliban/api/flags``: the flag schema as the lab dialog reads it, checked against
the JSON Schema the lab extension's TypeScript type is checked against too."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

import caliban_jupyter.server
from caliban_jupyter.flags import schema_json
from caliban_jupyter.spec import flag_schema

SCHEMA = Path(caliban_jupyter.server.__file__).with_name("flags.schema.json")


async def test_flags_match_the_json_schema_and_the_flag_schema(api):
    status, body = await api("GET", "flags")
    assert status == 200
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(body, schema)
    assert [f["name"] for f in body["flags"]] == [f.name for f in flag_schema.FLAGS]
    flags = {f["name"]: f for f in body["flags"]}
    from caliban_jupyter.service.backends import backend_names

    assert flags["backend"]["choices"] == list(backend_names())
    assert flags["gpu_spec"] == {
        "name": "gpu_spec", "type": "str", "default": None, "choices": None,
        "metavar": "NUMxGPU_TYPE", "group": "what to run",
        "help": "GPUs per job, e.g. 2xV100 (default 1xP100 unless --nogpu/--tpu_spec)",
        "surfaces": ["cli", "magic", "api", "config_file", "export", "form", "lab"]}
    assert flags["labels"]["default"] == [] and flags["nogpu"]["default"] is False
    assert flags["format"]["choices"] == ["text", "json"]


def test_the_json_schema_refuses_a_wrong_shape():
    schema = json.loads(SCHEMA.read_text())
    good = schema_json()
    jsonschema.validate(good, schema)
    for change in ({"type": "string"}, {"surfaces": ["cli", "desktop"]}, {"extra": 1},
                   {"choices": "a,b"}):
        bad = {"flags": [{**good["flags"][0], **change}]}
        try:
            jsonschema.validate(bad, schema)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"{change} passed the schema")
    missing = {"flags": [{k: v for k, v in good["flags"][0].items() if k != "metavar"}]}
    try:
        jsonschema.validate(missing, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("a flag without metavar passed the schema")


async def test_unchanged_flags_answer_304_to_their_etag(jp_fetch):
    first = await jp_fetch("caliban", "api", "flags")
    etag = first.headers["Etag"]
    again = await jp_fetch("caliban", "api", "flags", headers={"If-None-Match": etag},
                           raise_error=False)
    assert again.code == 304 and not again.body


async def test_a_flag_added_to_the_schema_is_served(api, monkeypatch):
    added = flag_schema.Flag(
        "preemption_notice", "str", "warn the job this long before a Spot VM is reclaimed",
        "scheduling", flag_schema.SURFACES, metavar="DURATION", layer="setting",
        env_vars=("CALIBAN_PREEMPTION_NOTICE",), takes="a duration (string)")
    monkeypatch.setattr(flag_schema, "FLAGS", (*flag_schema.FLAGS, added))
    status, body = await api("GET", "flags")
    assert status == 200
    jsonschema.validate(body, json.loads(SCHEMA.read_text()))
    assert body["flags"][-1] == {
        "name": "preemption_notice", "type": "str", "default": None, "choices": None,
        "help": "warn the job this long before a Spot VM is reclaimed",
        "metavar": "DURATION", "group": "scheduling", "surfaces": list(flag_schema.SURFACES)}

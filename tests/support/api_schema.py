"""The server's JSON contract (``caliban_jupyter/server/api.schema.json``) for tests: the
schema the lab extension's types are generated from, and a check of a reply against one
of its definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import caliban_jupyter.server

SCHEMA_PATH = Path(caliban_jupyter.server.__file__).with_name("api.schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def check_reply(reply: Any, definition: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``reply`` is a valid ``definition``
    (``IGroup``, ``IDryRun``...) of the schema."""
    import jsonschema

    schema = {k: v for k, v in SCHEMA.items() if k != "properties"}
    jsonschema.Draft7Validator({**schema, "$ref": f"#/definitions/{definition}"}).validate(
        reply)

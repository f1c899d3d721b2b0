"""Resource names, project numbers, timestamps and the JSON forms of a CustomJob.

Pure functions: no I/O. Vertex names jobs ``projects/{number}/locations/{region}/
customJobs/{id}`` whatever form of the project the request used, so the emulator maps a
project id to a stable project number.
"""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from .rpc import ENUM_FIELDS, JOB_STATES, TRIAL_STATES, ApiError

# Permissive on purpose: any id a user could have (including domain-scoped ones).
_PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_LOCATION = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
# Map fields: their keys are user data, never field names to convert.
_MAP_FIELDS = frozenset({"labels"})


def project_number(project: str) -> str:
    """The stable numeric project number of ``project`` (a project id or a number).

    Real project numbers are 12 digits; a hash keeps the same id on the same number across
    restarts and machines, which is all a client can rely on.
    """
    if project.isdigit():
        return project
    digest = hashlib.sha256(project.encode()).digest()
    return str(100_000_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000_000)


def check_parent(project: str, location: str) -> None:
    """Reject a parent Vertex would reject (malformed project or location)."""
    if not (project.isdigit() or _PROJECT_ID.match(project)):
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Invalid project {project!r} in the resource name: use a Google Cloud project "
            "id (lowercase letters, digits, hyphens) or a project number.",
        )
    if not _LOCATION.match(location):
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Invalid location {location!r}: use a region such as us-central1.",
        )


def job_name(number: str, location: str, job_id: int | str) -> str:
    return f"projects/{number}/locations/{location}/customJobs/{job_id}"


def rfc3339(ts: float | None) -> str | None:
    """``ts`` (seconds since the epoch) as Google's RFC 3339 UTC form, or ``None``."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp; ``ValueError`` if malformed."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone (end it with Z)")
    return dt.timestamp()


def camel_case(key: str) -> str:
    """``display_name`` → ``displayName`` (a camelCase name is returned as is)."""
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def normalize_request(value: Any, key: str = "") -> Any:
    """A request body with snake_case field names turned into lowerCamelCase.

    Google's JSON mapping accepts both spellings; the SDK sends lowerCamelCase. Keys of
    map fields (labels) are left alone, and known enums are stored by name whether the
    client sent names or integers.
    """
    if isinstance(value, dict):
        if key in _MAP_FIELDS:
            return dict(value)
        out = {}
        for k, v in value.items():
            ck = camel_case(k)
            out[ck] = normalize_request(v, ck)
        for name, table in ENUM_FIELDS.items():
            value = out.get(name)
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                names = {number: n for n, number in table.items()}
                out[name] = names.get(int(value), str(value))
        return out
    if isinstance(value, list):
        return [normalize_request(v, key) for v in value]
    return value


def encode_enums_as_ints(job: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``job`` with its enums as integers, for ``$alt=json;enum-encoding=int``."""
    out = copy.deepcopy(job)
    if isinstance(out.get("state"), str):
        out["state"] = JOB_STATES.get(out["state"], 0)
    # A CustomJob's enums are in jobSpec; a HyperparameterTuningJob's in studySpec,
    # trialJobSpec and each trial's state.
    for key in ("jobSpec", "studySpec", "trialJobSpec"):
        _enums_to_ints(out.get(key))
    for trial in out.get("trials") or []:
        if isinstance(trial.get("state"), str):
            trial["state"] = TRIAL_STATES.get(trial["state"], 0)
    return out


def _enums_to_ints(value: Any) -> None:
    """Replace, in place, every enum field's name below ``value`` with its number."""
    if isinstance(value, dict):
        for key, item in value.items():
            table = ENUM_FIELDS.get(key)
            if table is not None and isinstance(item, str):
                value[key] = table.get(item, 0)
            else:
                _enums_to_ints(item)
    elif isinstance(value, list):
        for item in value:
            _enums_to_ints(item)


def wants_int_enums(query: dict[str, list[str]]) -> bool:
    """Whether the request asked for integer enums (the SDK's REST transport does)."""
    return any("enum-encoding=int" in v for v in query.get("$alt", []))

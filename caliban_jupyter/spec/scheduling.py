"""How Vertex AI schedules a job: Spot or flex-start, timeout, retries. Pure.

``--spot`` asks for Spot VMs (far cheaper, may be preempted); ``--flex_start`` queues the
job in Dynamic Workload Scheduler until scarce GPUs are free (``--max_wait`` bounds the
wait). Durations are written ``90m``, ``2h``, ``3600s`` or ``1d`` (or sums like
``1h30m``) and sent as Vertex's protobuf Duration JSON, ``"5400s"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

__all__ = ["FLEX_START", "SPOT", "Scheduling", "format_duration", "parse_duration",
           "resolve_scheduling"]

SPOT = "SPOT"
FLEX_START = "FLEX_START"
#: Dynamic Workload Scheduler runs a job for at most 7 days.
FLEX_START_MAX_TIMEOUT = 7 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_EXAMPLE = "write a number and a unit: 90m, 2h, 3600s or 1d"


def parse_duration(text: Any, flag: str) -> int:
    """Seconds in ``text`` (``"90m"`` -> 5400); ``flag`` names it in the error.

    Raises
    ------
    SpecError
        Not a duration (a bare number, an unknown unit), or not a whole number of
        seconds.
    """
    raw = str(text).strip().lower().replace(" ", "")
    if not raw or _PART.sub("", raw):
        hint = f"; did you mean {raw}s?" if re.fullmatch(r"\d+", raw) else ""
        raise SpecError(f"{flag} {text!r} is not a duration: {_EXAMPLE}{hint}")
    total = sum(float(n) * _UNITS[u] for n, u in _PART.findall(raw))
    if total != int(total):
        raise SpecError(f"{flag} {text!r} is not a whole number of seconds; e.g. "
                        f"{flag} {max(int(total), 1)}s")
    return int(total)


def format_duration(seconds: int) -> str:
    """Protobuf Duration JSON: ``5400`` -> ``"5400s"``."""
    return f"{int(seconds)}s"


def human_duration(seconds: int) -> str:
    """``5400`` -> ``"1h30m"`` (for dry runs and status)."""
    out, rest = "", int(seconds)
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, _UNITS[unit])
        if n:
            out += f"{n}{unit}"
    return out or "0s"


@dataclass(frozen=True)
class Scheduling:
    """``jobSpec.scheduling``; ``None``/``False`` fields are left out of the request.

    ``strategy`` is ``SPOT``, ``FLEX_START`` or ``None`` (Vertex's on-demand default).
    """

    strategy: str | None = None
    timeout: int | None = None
    max_wait: int | None = None
    restart_job_on_worker_restart: bool = False
    disable_retries: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.timeout is not None:
            out["timeout"] = format_duration(self.timeout)
        if self.restart_job_on_worker_restart:
            out["restartJobOnWorkerRestart"] = True
        if self.strategy:
            out["strategy"] = self.strategy
        if self.disable_retries:
            out["disableRetries"] = True
        if self.max_wait is not None:
            out["maxWaitDuration"] = format_duration(self.max_wait)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Scheduling:
        """Inverse of :meth:`to_json` (also reads what the service echoes back)."""
        data = data or {}

        def seconds(key: str) -> int | None:
            value = data.get(key)
            return None if value in (None, "") else int(float(str(value).rstrip("s")))

        strategy = data.get("strategy")
        return cls(
            strategy=strategy if strategy in (SPOT, FLEX_START) else None,
            timeout=seconds("timeout"),
            max_wait=seconds("maxWaitDuration"),
            restart_job_on_worker_restart=bool(data.get("restartJobOnWorkerRestart")),
            disable_retries=bool(data.get("disableRetries")),
        )

    def describe(self) -> str:
        """One line for people: ``SPOT, timeout 1h30m, restart job on worker restart``."""
        parts = [self.strategy or "on-demand"]
        if self.max_wait is not None:
            parts.append(f"max wait {human_duration(self.max_wait)}")
        if self.timeout is not None:
            parts.append(f"timeout {human_duration(self.timeout)}")
        if self.restart_job_on_worker_restart:
            parts.append("restart job on worker restart")
        if self.disable_retries:
            parts.append("retries disabled")
        return ", ".join(parts)


def resolve_scheduling(*, spot: bool = False, flex_start: bool = False,
                       max_wait: str | None = None, timeout: str | None = None,
                       restart_on_worker_restart: bool = False,
                       disable_retries: bool = False,
                       timeout_flag: str = "--timeout") -> Scheduling:
    """Validate the scheduling flags (those that need no hardware; see
    :func:`caliban_jupyter.spec.pools.check_flex_start` for the rest).

    Raises
    ------
    SpecError
        Spot with flex-start, restarts with retries disabled, ``--max_wait`` without
        flex-start, a malformed duration, or a flex-start timeout over 7 days.
    """
    if spot and flex_start:
        raise SpecError("--spot and --flex_start cannot be combined: Spot VMs start now and "
                        "may be preempted, flex-start waits for capacity and then runs "
                        "uninterrupted; keep one of the two")
    if restart_on_worker_restart and disable_retries:
        raise SpecError("--disable_retries turns --restart_on_worker_restart off (Vertex AI "
                        "then never restarts the job); keep one of the two")
    if max_wait not in (None, "") and not flex_start:
        raise SpecError(f"--max_wait {max_wait} only applies to flex-start jobs (how long "
                        "to wait for capacity); add --flex_start, or drop --max_wait")
    seconds = parse_duration(timeout, timeout_flag) if timeout not in (None, "") else None
    if seconds is not None and seconds < 1:
        raise SpecError(f"{timeout_flag} {timeout!r} must be at least 1s")
    wait = parse_duration(max_wait, "--max_wait") if max_wait not in (None, "") else None
    if flex_start and seconds is not None and seconds > FLEX_START_MAX_TIMEOUT:
        raise SpecError(f"{timeout_flag} {timeout} is {human_duration(seconds)}, but a "
                        "flex-start job runs at most 7 days; use --timeout 7d (or less), "
                        "or drop --flex_start")
    strategy = SPOT if spot else FLEX_START if flex_start else None
    return Scheduling(strategy=strategy, timeout=seconds, max_wait=wait,
                      restart_job_on_worker_restart=restart_on_worker_restart,
                      disable_retries=disable_retries)

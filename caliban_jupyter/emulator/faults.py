"""Fault injection, so clients' retry and resume paths can be tested against real failures.

Faults apply to the Vertex API routes only (``/v1/...``), never to ``/healthz``, the pages
or logs. Decisions come from one seeded random generator, so a given ``seed`` and request
order always inject the same faults.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from ..errors import UsageError
from .rpc import ApiError

ENV_PREFIX = "CALIBAN_EMULATOR_"


@dataclass(frozen=True)
class FaultConfig:
    """What to inject.

    Attributes
    ----------
    fault_rate
        Fraction of API requests answered 429 RESOURCE_EXHAUSTED or 503 UNAVAILABLE
        (half each) without doing anything.
    latency_ms
        Delay added before answering every API request.
    drop_after_commit_rate
        Fraction of successful creates whose connection is closed without an answer
        after the job was stored: the client cannot know the job exists.
    seed
        Seed of the generator; ``None`` for a random one.
    preempt_rate
        Fraction of Spot jobs (``scheduling.strategy: SPOT``) whose replicas are
        preempted as soon as they run, once per job: the job then restarts or fails as
        its ``restartJobOnWorkerRestart`` says.
    """

    fault_rate: float = 0.0
    latency_ms: float = 0.0
    drop_after_commit_rate: float = 0.0
    seed: int | None = None
    preempt_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("fault_rate", "drop_after_commit_rate", "preempt_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1, "
                                 f"not {value}")
        if self.latency_ms < 0:
            raise UsageError(f"--latency-ms must be 0 or more, not {self.latency_ms}")

    @property
    def enabled(self) -> bool:
        return bool(self.fault_rate or self.latency_ms or self.drop_after_commit_rate
                    or self.preempt_rate)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> FaultConfig:
        """Read ``CALIBAN_EMULATOR_FAULT_RATE``, ``..._LATENCY_MS``,
        ``..._DROP_AFTER_COMMIT_RATE``, ``..._PREEMPT_RATE`` and ``..._SEED``."""
        env = os.environ if environ is None else environ

        def num(name: str, kind: type = float) -> float | None:
            raw = env.get(ENV_PREFIX + name)
            if raw is None or raw == "":
                return None
            try:
                return kind(raw)
            except ValueError:
                raise UsageError(f"{ENV_PREFIX}{name}={raw!r} is not a number") from None

        seed = num("SEED", int)
        return cls(
            fault_rate=num("FAULT_RATE") or 0.0,
            latency_ms=num("LATENCY_MS") or 0.0,
            drop_after_commit_rate=num("DROP_AFTER_COMMIT_RATE") or 0.0,
            seed=None if seed is None else int(seed),
            preempt_rate=num("PREEMPT_RATE") or 0.0,
        )


class FaultInjector:
    """Decides, per request, whether to delay, refuse or drop; counts what it did."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def before(self) -> None:
        """Called before handling an API request: sleep, and maybe raise a fault.

        Raises
        ------
        ApiError
            RESOURCE_EXHAUSTED (429) or UNAVAILABLE (503) for an injected fault.
        """
        with self._lock:
            self.counts["requests"] += 1
            roll = self._random.random()
            kind = self._random.random()
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000)
        if roll < self.config.fault_rate:
            if kind < 0.5:
                self._count("injected_429")
                raise ApiError("RESOURCE_EXHAUSTED",
                               "Quota exceeded (injected by the emulator's --fault-rate). "
                               "Retry with backoff.")
            self._count("injected_503")
            raise ApiError("UNAVAILABLE",
                           "The service is currently unavailable (injected by the "
                           "emulator's --fault-rate). Retry with backoff.")

    def drop_after_commit(self) -> bool:
        """Whether to drop the connection of a create that was just committed."""
        with self._lock:
            drop = self._random.random() < self.config.drop_after_commit_rate
        if drop:
            self._count("dropped_after_commit")
        return drop

    def preempt(self) -> bool:
        """Whether to preempt the Spot job that just started running."""
        with self._lock:
            hit = self._random.random() < self.config.preempt_rate
        if hit:
            self._count("preempted")
        return hit

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

"""Fault decisions: seeded, counted, configured by flags or environment."""

from __future__ import annotations

import pytest

from caliban_jupyter.emulator.faults import FaultConfig, FaultInjector
from caliban_jupyter.emulator.rpc import ApiError
from caliban_jupyter.errors import UsageError


def outcomes(config: FaultConfig, n: int = 300) -> list[str]:
    injector = FaultInjector(config)
    seen = []
    for _ in range(n):
        try:
            injector.before()
            seen.append("ok")
        except ApiError as e:
            seen.append(e.status)
    return seen


def test_no_faults_by_default() -> None:
    assert not FaultConfig().enabled
    assert set(outcomes(FaultConfig())) == {"ok"}


def test_fault_rate_injects_both_kinds_deterministically() -> None:
    config = FaultConfig(fault_rate=0.3, seed=42)
    seen = outcomes(config)
    assert set(seen) == {"ok", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}
    assert 30 < len([s for s in seen if s != "ok"]) < 150
    assert outcomes(config) == seen
    assert outcomes(FaultConfig(fault_rate=0.3, seed=43)) != seen
    assert set(outcomes(FaultConfig(fault_rate=1.0, seed=1))) == {"RESOURCE_EXHAUSTED",
                                                                  "UNAVAILABLE"}


def test_counts() -> None:
    injector = FaultInjector(FaultConfig(fault_rate=1.0, drop_after_commit_rate=1.0, seed=3))
    for _ in range(10):
        with pytest.raises(ApiError):
            injector.before()
    assert injector.drop_after_commit()
    counts = injector.snapshot()
    assert counts["requests"] == 10
    assert counts["injected_429"] + counts["injected_503"] == 10
    assert counts["dropped_after_commit"] == 1


def test_from_env() -> None:
    config = FaultConfig.from_env({"CALIBAN_EMULATOR_FAULT_RATE": "0.25",
                                   "CALIBAN_EMULATOR_LATENCY_MS": "5",
                                   "CALIBAN_EMULATOR_DROP_AFTER_COMMIT_RATE": "0.1",
                                   "CALIBAN_EMULATOR_SEED": "9"})
    assert config == FaultConfig(0.25, 5.0, 0.1, 9)
    assert FaultConfig.from_env({}) == FaultConfig()
    with pytest.raises(UsageError, match="not a number"):
        FaultConfig.from_env({"CALIBAN_EMULATOR_FAULT_RATE": "lots"})


@pytest.mark.parametrize("bad", [{"fault_rate": 1.5}, {"drop_after_commit_rate": -0.1},
                                 {"latency_ms": -1}])
def test_bad_values_are_usage_errors(bad: dict) -> None:
    with pytest.raises(UsageError):
        FaultConfig(**bad)

"""The per-phase gauges follow each policy's moves (no recount over every policy)."""

from __future__ import annotations

import prometheus_client as prom
import pytest

from controllers import observability
from tests.unit.controllers import harness


def _gauges(registry: prom.CollectorRegistry) -> dict[str, float]:
    out = {
        phase: registry.get_sample_value("nimbusguard_policies_by_phase", {"phase": phase})
        for phase in observability.PHASES
    }
    out["active"] = registry.get_sample_value("nimbusguard_active_policies")
    return {k: v for k, v in out.items() if v}


def test_moves_between_phases_are_counted() -> None:
    registry = prom.CollectorRegistry()
    metrics = observability.Metrics(registry)

    metrics.move_phase(None, "Learning")  # a
    metrics.move_phase(None, "Learning")  # b
    metrics.move_phase("Learning", "Active")  # a promoted
    metrics.move_phase("Active", "Active")  # a again: no move
    metrics.move_phase(None, "Error")  # c
    assert _gauges(registry) == {"Learning": 1, "Active": 1, "Error": 1, "active": 1}

    metrics.move_phase("Active", None)  # a forgotten
    metrics.move_phase("Error", "Learning")  # c fixed
    assert _gauges(registry) == {"Learning": 2}


async def test_an_evaluation_and_forgetting_move_the_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    registry = prom.CollectorRegistry()
    w.rec.metrics = w.rec.evaluator.metrics = observability.Metrics(registry)
    await w.adopt()

    await w.evaluate()
    await w.evaluate()
    assert _gauges(registry) == {"Learning": 1}

    await w.rec.forget(w.policy_body())
    assert _gauges(registry) == {}

"""The demo's warm start is trained in the world the policy lives in."""

from __future__ import annotations

from hack.demo import trace, warmstart

SETUP = warmstart.Setup(
    replay_day=5, speed=60.0, demand_min=2.0, demand_max=16.0, min_replicas=2,
    max_replicas=30, evaluation_seconds=5, horizon_seconds=10, target_utilization=0.7,
    slo_ratio=1.25, epsilon_decay_decisions=200,
)  # fmt: skip


def test_the_simulator_decides_at_every_evaluation_of_the_policy() -> None:
    sim = warmstart.settings(SETUP)
    assert sim.evaluation_interval_seconds == sim.step_seconds == SETUP.evaluation_seconds
    assert sim.slo_utilization == 0.7 * 1.25


def test_the_workload_starts_sized_for_the_first_evaluations() -> None:
    # 8.75 cores at the SLO's 0.875 per replica need 10; the later 14 cores need 16.
    day = trace.CompressedDay(demand=(8.75,) * 30 + (14.0,) * 30, speed=60.0, day=5)
    assert warmstart.initial_replicas(SETUP, day) == 16
    quiet = trace.CompressedDay(demand=(1.0,) * 90, speed=60.0, day=5)
    assert warmstart.initial_replicas(SETUP, quiet) == SETUP.min_replicas

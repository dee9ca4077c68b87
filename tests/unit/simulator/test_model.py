"""The service model, the HPA in it, and the oracle as the lower bound of cost."""

from __future__ import annotations

import numpy as np
import pytest

from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import baselines, model

SETTINGS = model.ModelSettings()  # 15 s steps, 60 s startup (4 steps), 1..40, SLO 0.9


class Scripted:
    """Returns a fixed replica count per step and records what it observed."""

    name = "scripted"

    def __init__(self, wanted: list[int]) -> None:
        self.wanted = wanted
        self.seen: list[Observation] = []

    def decide(self, step: int, obs: Observation) -> int:
        self.seen.append(obs)
        return self.wanted[step]


def test_added_replicas_cost_at_once_and_serve_after_the_startup_delay() -> None:
    demand = np.full(8, 3.0)
    script = Scripted([5, 5, 5, 5, 5, 5, 5, 5])
    trajectory = model.run(demand, script, SETTINGS, initial_replicas=4)
    assert trajectory.replicas.tolist() == [5] * 8  # paid from the request
    # Requested at step 0, ready at step 4 (60 s ÷ 15 s).
    assert trajectory.ready.tolist() == [4, 4, 4, 4, 5, 5, 5, 5]
    assert [o.pending for o in script.seen] == [0, 1, 1, 1, 0, 0, 0, 0]
    # Observations are in units of the HPA target (0.7): 3 cores on 4 replicas = 0.75 → 1.07.
    assert script.seen[0].utilization == pytest.approx(3.0 / 4 / 0.7)


def test_removal_is_immediate_and_takes_pending_replicas_first() -> None:
    demand = np.full(6, 1.0)
    script = Scripted([6, 3, 3, 3, 3, 3])
    trajectory = model.run(demand, script, SETTINGS, initial_replicas=4)
    # Step 0 asks for 2 more (pending); step 1 goes to 3: both pending go, then 1 ready, and
    # from the next step on only 3 serve (a decision cannot change what its step observed).
    assert trajectory.ready.tolist() == [4, 4, 3, 3, 3, 3]


def test_decisions_are_clamped_to_min_and_max() -> None:
    settings = model.ModelSettings(min_replicas=2, max_replicas=5)
    trajectory = model.run(np.full(3, 1.0), Scripted([0, 99, 3]), settings, initial_replicas=3)
    assert trajectory.replicas.tolist() == [2, 5, 3]


def test_violations_count_steps_above_the_slo_utilization() -> None:
    # 4 ready replicas: 3.6 cores is exactly 0.9 (not a violation), 3.7 is.
    demand = np.array([3.6, 3.7, 3.7, 1.0])
    trajectory = model.run(demand, Scripted([4, 4, 4, 4]), SETTINGS, initial_replicas=4)
    assert trajectory.violations.tolist() == [False, True, True, False]
    metrics = model.metrics(trajectory, 4, SETTINGS.step_seconds)
    assert metrics.slo_violation_fraction == 0.5
    assert metrics.max_violation_minutes == 0.5  # two 15 s steps
    assert metrics.replica_hours == pytest.approx(4 * 4 * 15 / 3600)


def test_scale_events_per_hour() -> None:
    trajectory = model.run(np.full(240, 1.0), Scripted([2, 3] * 120), SETTINGS, initial_replicas=2)
    metrics = model.metrics(trajectory, 2, SETTINGS.step_seconds)
    assert metrics.scale_events_per_hour == 239  # every step but the first changes


def test_hpa_in_the_model_scales_up_then_waits_300_s_to_scale_down() -> None:
    demand = np.concatenate((np.full(4, 2.8), np.full(40, 5.6), np.full(40, 2.8)))
    hpa = baselines.HPA("hpa", baselines.hpa_config(SETTINGS), 0.7, SETTINGS)
    trajectory = model.run(demand, hpa, SETTINGS, initial_replicas=4)
    # 2.8 cores on 4 replicas is the target: hold. 5.6 cores → ceil(4 × 2) = 8 at once.
    assert trajectory.replicas[:4].tolist() == [4, 4, 4, 4]
    assert trajectory.replicas[4] == 8
    # The load halves at step 44. The last raw recommendation of 8 came at step 43 (645 s); the
    # 300 s window holds it while it is newer than now − 300 s, i.e. up to step 62 (930 s).
    assert trajectory.replicas[44:63].tolist() == [8] * 19
    assert trajectory.replicas[63] == 4


def _random_demand(seed: int) -> model.FloatArray:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.6, 600))
    return np.clip(6 + walk + rng.normal(0, 0.5, 600), 2, 20)


@pytest.mark.parametrize("seed", range(5))
def test_oracle_never_violates_and_is_the_cheapest_that_does_not(seed: int) -> None:
    demand = _random_demand(seed)
    initial = SETTINGS.initial_replicas(demand)
    oracle = model.run(
        demand, baselines.Schedule("oracle", baselines.oracle_schedule(demand, SETTINGS)), SETTINGS
    )
    assert not oracle.violations.any()
    floor = model.metrics(oracle, initial, SETTINGS.step_seconds).replica_hours
    rng = np.random.default_rng(seed)
    contenders: list[model.Autoscaler] = [
        baselines.Schedule("static", np.full(600, baselines.static_count(demand, SETTINGS))),
    ]
    contenders += [
        baselines.HPA("hpa", baselines.hpa_config(SETTINGS, w), t, SETTINGS)
        for t in (0.4, 0.5, 0.6, 0.7)
        for w in (0.0, 300.0)
    ]
    # Random schedules that add noise on top of the oracle's: never cheaper if never violating.
    contenders += [
        baselines.Schedule(
            "noisy",
            baselines.oracle_schedule(demand, SETTINGS) + rng.integers(-1, 3, 600),
        )
        for _ in range(5)
    ]
    compared = 0
    for autoscaler in contenders:
        start = initial if autoscaler.name != "static" else baselines.static_count(demand, SETTINGS)
        trajectory = model.run(demand, autoscaler, SETTINGS, start)
        if trajectory.violations.any():
            continue
        compared += 1
        cost = model.metrics(trajectory, start, SETTINGS.step_seconds).replica_hours
        assert cost >= floor - 1e-9, autoscaler.name
    assert compared >= 2

"""The API loop's causal bound: the cadence-held schedule is the cheapest one, and with the fast
loop's settings the bound is the per-step one."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from benchmarks import learner_bounds
from nimbusguard.simulator import model


def _brute_force(cost: np.ndarray, held: int) -> float:
    """The cheapest total over every schedule that keeps a change for `held` evaluations."""
    blocks, width = cost.shape
    best = np.inf
    for plan in itertools.product(range(width), repeat=blocks):
        changes = [b for b in range(1, blocks) if plan[b] != plan[b - 1]]
        if any(0 < c - p <= held for p, c in itertools.pairwise(changes)):
            continue
        best = min(best, float(cost[np.arange(blocks), plan].sum()))
    return best


@pytest.mark.parametrize("held", [0, 1, 2])
def test_the_schedule_is_the_cheapest_one_that_respects_the_cooldown(held: int) -> None:
    rng = np.random.default_rng(held)
    for _ in range(20):
        cost = rng.uniform(0.0, 10.0, (6, 3))
        plan = learner_bounds.cheapest_schedule(cost, held)
        changes = [b for b in range(1, 6) if plan[b] != plan[b - 1]]
        assert all(c - p > held for p, c in itertools.pairwise(changes))
        assert float(cost[np.arange(6), plan].sum()) == pytest.approx(_brute_force(cost, held))


def test_a_slower_cadence_costs_more_and_the_fast_one_is_the_per_step_bound() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(2000)
    mean = 6.0 + 4.0 * np.sin(t / 150.0) + np.where(t > 1200, 5.0, 0.0)
    sigma = 0.05 * mean * rng.uniform(0.9, 1.1, len(t))
    fast = model.ModelSettings()
    api = dataclasses.replace(
        fast,
        evaluation_interval_seconds=30.0,
        scale_up_cooldown_seconds=60.0,
        scale_down_cooldown_seconds=60.0,
    )
    per_step = learner_bounds.causal_bound(mean, sigma, fast)
    assert learner_bounds.cadence_bound(mean, sigma, fast) == pytest.approx(per_step, rel=2e-3)
    held = learner_bounds.cadence_bound(mean, sigma, api)
    assert per_step < held < 1.05 * per_step

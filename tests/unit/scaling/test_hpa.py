"""The HPA baseline against hand-computed cases (Kubernetes' algorithm, default behavior)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from nimbusguard.scaling import hpa
from nimbusguard.scaling.observation import Observation


def obs(
    time: float, replicas: int, util: float, ready: int | None = None, pending: int | None = None
) -> Observation:
    return Observation(
        time=time,
        replicas=replicas,
        ready_replicas=replicas if ready is None else ready,
        utilization=util,
        pending_replicas=pending,
    )


def baseline(**changes: Any) -> hpa.HPABaseline:
    """Kubernetes' defaults with 1..40 replicas, changed by `changes`."""
    config = hpa.HPAConfig(min_replicas=1, max_replicas=40)
    return hpa.HPABaseline(dataclasses.replace(config, **changes))


@pytest.mark.parametrize(
    ("util", "expected"),
    [
        (1.08, 4),  # |1 - 1.08| <= 0.1: hold
        (0.92, 4),  # within tolerance below target too
        (1.12, 5),  # ceil(4 × 1.12) = ceil(4.48)
        (1.42, 6),  # ceil(5.68)
    ],
)
def test_ratio_rule_and_tolerance(util: float, expected: int) -> None:
    assert baseline().recommend(obs(0, 4, util)).replicas == expected


def test_reason_names_ratio_ready_and_result() -> None:
    rec = baseline().recommend(obs(0, 4, 1.42))
    assert rec.reason == "utilization 1.42× target at 4 ready → 6"
    held = baseline().recommend(obs(0, 4, 1.05))
    assert "within the 10% tolerance" in held.reason


def test_scale_up_limited_by_pods_or_percent_whichever_is_larger() -> None:
    # 4 ready at 3× target → raw 12; limit max(4 + 4, ceil(4 × 2)) = 8.
    rec = baseline().recommend(obs(0, 4, 3.0))
    assert (rec.raw_replicas, rec.replicas, rec.highest_allowed) == (12, 8, 8)
    assert rec.reason.endswith("(limited to 8 by the scale-up policy)")
    # 10 ready at 3× → raw 30; limit max(14, 20) = 20.
    assert baseline().recommend(obs(0, 10, 3.0)).replicas == 20


def test_scale_events_in_the_period_count_against_the_limit() -> None:
    b = baseline()
    b.record_scale(0.0, 4, 8)
    # At t=10 the period started at 8 - 4 = 4 replicas: limit max(4 + 4, 8) = 8, raw 16.
    assert b.recommend(obs(10, 8, 2.0)).replicas == 8
    # At t=15 the event at t=0 is outside (15 - 15, 15]: limit max(12, 16) = 16.
    assert b.recommend(obs(15, 8, 2.0)).replicas == 16


def test_downscale_stabilization_keeps_the_highest_recommendation_of_300_s() -> None:
    b = baseline()
    assert b.recommend(obs(0, 10, 1.0)).replicas == 10
    held = b.recommend(obs(15, 10, 0.5))
    assert (held.raw_replicas, held.replicas) == (5, 10)
    assert "held at 10 by the 300 s scale-down stabilization window" in held.reason
    for t in range(30, 300, 15):
        assert b.recommend(obs(t, 10, 0.5)).replicas == 10
    # At t=300 the raw 10 of t=0 is out of the window (300 - 300, 300]: only 5s remain.
    assert b.recommend(obs(300, 10, 0.5)).replicas == 5


def test_upscale_stabilization_keeps_the_lowest_recommendation() -> None:
    b = baseline(scale_up=hpa.ScaleRule(stabilization_window_seconds=60))
    b.recommend(obs(0, 4, 1.0))
    held = b.recommend(obs(15, 4, 2.0))
    assert (held.raw_replicas, held.replicas) == (8, 4)
    assert "60 s scale-up stabilization" in held.reason
    assert b.recommend(obs(60, 4, 2.0)).replicas == 8


def test_scale_down_policy_limits_removal() -> None:
    slow = hpa.ScaleRule(stabilization_window_seconds=0, max_pods=1, max_percent=10)
    # 10 replicas: min(10 - 1, floor(10 × 0.9)) = 9.
    rec = baseline(scale_down=slow).recommend(obs(0, 10, 0.5))
    assert (rec.replicas, rec.lowest_allowed) == (9, 9)
    assert rec.reason.endswith("(limited to 9 by the scale-down policy)")


def test_clamped_to_min_and_max() -> None:
    high = baseline(max_replicas=10).recommend(obs(0, 8, 2.0))
    assert high.replicas == 10
    assert high.reason.endswith("(limited to 10 by maxReplicas)")
    low = baseline(min_replicas=3, scale_down=hpa.ScaleRule(0)).recommend(obs(0, 4, 0.2))
    assert low.replicas == 3
    assert low.reason.endswith("(limited to 3 by minReplicas)")


def test_out_of_range_target_jumps_into_range() -> None:
    rec = baseline(max_replicas=10).recommend(obs(0, 12, 0.1))
    assert (rec.replicas, rec.lowest_allowed, rec.highest_allowed) == (10, 10, 10)
    assert baseline(min_replicas=2).recommend(obs(0, 1, 1.0)).replicas == 2


def test_target_scaled_to_zero_by_hand_stays_at_zero() -> None:
    rec = baseline(min_replicas=2).recommend(obs(0, 0, 0.0))
    assert rec.replicas == 0
    assert "scaling is off" in rec.reason


def test_scale_from_zero_when_the_policy_allows_zero() -> None:
    # minReplicas 0: no load keeps it at zero, load wakes it (one replica's worth per 1.0).
    assert baseline(min_replicas=0).recommend(obs(0, 0, 0.05)).replicas == 0
    woke = baseline(min_replicas=0, max_replicas=10).recommend(obs(0, 0, 2.4))
    assert woke.replicas == 3
    assert "at 0 replicas" in woke.reason
    assert baseline(min_replicas=0, max_replicas=2).recommend(obs(0, 0, 9.0)).replicas == 2


def test_starting_replicas_count_at_zero_on_scale_up() -> None:
    # 4 ready at 1.3× plus 4 starting: 1.3 × 4 / 8 = 0.65 points down → hold 8.
    assert baseline().recommend(obs(0, 8, 1.3, ready=4, pending=4)).replicas == 8
    # 4 ready at 2.25× plus 2 starting: 9 / 6 = 1.5 → ceil(1.5 × 6) = 9.
    assert baseline().recommend(obs(0, 6, 2.25, ready=4, pending=2)).replicas == 9


def test_no_ready_replicas_holds() -> None:
    rec = baseline().recommend(obs(0, 3, 0.0, ready=0))
    assert rec.replicas == 3
    assert "no ready replicas" in rec.reason


def test_replayed_observation_gives_the_same_answer() -> None:
    b = baseline()
    b.recommend(obs(0, 10, 1.0))
    first = b.recommend(obs(15, 10, 0.5))
    assert b.recommend(obs(15, 10, 0.5)) == first


def test_from_spec_reads_the_api_defaults_as_kubernetes_defaults() -> None:
    spec = types.ScalingSpec(max_replicas=40)
    assert hpa.HPAConfig.from_spec(spec) == hpa.HPAConfig(min_replicas=1, max_replicas=40)


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_replicas"):
        hpa.HPAConfig(min_replicas=5, max_replicas=2)

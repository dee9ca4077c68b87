"""The fallback ladder: hold, then a secondary metric, then a floor; never down blind."""

from __future__ import annotations

from hypothesis import given, strategies as hs

from nimbusguard.scaling import observation
from nimbusguard.workflow import fallback


def _rec(replicas: int) -> observation.Recommendation:
    return observation.Recommendation(replicas, "ratio", replicas, 1, 10)


def test_holds_during_the_grace_period() -> None:
    step = fallback.choose(
        current=4,
        failing_for=10,
        grace=60,
        secondary=_rec(8),
        secondary_name="cpu",
        fallback_replicas=6,
        max_replicas=10,
    )
    assert (step.replicas, step.rung) == (4, "hold")


def test_follows_a_working_secondary_metric_after_the_grace() -> None:
    step = fallback.choose(
        current=4,
        failing_for=60,
        grace=60,
        secondary=_rec(2),
        secondary_name="cpu",
        fallback_replicas=6,
        max_replicas=10,
    )
    assert (step.replicas, step.rung) == (2, "secondary")
    assert "cpu" in step.reason


def test_raises_to_the_floor_without_any_metric() -> None:
    step = fallback.choose(
        current=4,
        failing_for=120,
        grace=60,
        secondary=None,
        secondary_name=None,
        fallback_replicas=6,
        max_replicas=5,
    )
    assert (step.replicas, step.rung) == (5, "floor")


@given(
    current=hs.integers(0, 100),
    failing=hs.floats(0, 1e5),
    floor=hs.none() | hs.integers(0, 200),
    max_replicas=hs.integers(1, 200),
)
def test_never_scales_down_without_a_metric(
    current: int, failing: float, floor: int | None, max_replicas: int
) -> None:
    step = fallback.choose(
        current=current,
        failing_for=failing,
        grace=30,
        secondary=None,
        secondary_name=None,
        fallback_replicas=floor,
        max_replicas=max_replicas,
    )
    assert step.replicas >= current
    assert step.replicas <= max(current, max_replicas)

"""Cooldown arithmetic, including property-based invariants."""

from __future__ import annotations

import dataclasses

from hypothesis import given, strategies as hs

from nimbusguard.workflow import cooldowns


@dataclasses.dataclass(frozen=True)
class Spec:
    cooldown_period: int = 60
    scale_up_cooldown: int | None = None
    scale_down_cooldown: int | None = None


def test_overrides_per_direction() -> None:
    spec = Spec(cooldown_period=60, scale_up_cooldown=10, scale_down_cooldown=300)
    assert cooldowns.cooldown_seconds(spec, "up") == 10
    assert cooldowns.cooldown_seconds(spec, "down") == 300
    assert cooldowns.cooldown_seconds(Spec(), "down") == 60


def test_no_previous_action_means_no_wait() -> None:
    assert cooldowns.remaining(Spec(), None, "up", now=5.0) == 0.0
    assert cooldowns.next_scale_time(Spec(), None) is None


def test_next_scale_time_is_the_earlier_direction() -> None:
    spec = Spec(cooldown_period=60, scale_up_cooldown=10, scale_down_cooldown=300)
    assert cooldowns.next_scale_time(spec, 1000.0) == 1010.0
    assert cooldowns.remaining(spec, 1000.0, "down", now=1100.0) == 200.0


specs = hs.builds(
    Spec,
    cooldown_period=hs.integers(0, 86400),
    scale_up_cooldown=hs.none() | hs.integers(0, 86400),
    scale_down_cooldown=hs.none() | hs.integers(0, 86400),
)


@given(
    spec=specs,
    last=hs.floats(0, 1e9),
    now=hs.floats(0, 2e9),
    direction=hs.sampled_from(["up", "down"]),
)
def test_allowed_exactly_when_the_cooldown_has_passed(
    spec: Spec, last: float, now: float, direction: cooldowns.Direction
) -> None:
    wait = cooldowns.remaining(spec, last, direction, now)
    assert wait >= 0
    assert (wait == 0) == (now - last >= cooldowns.cooldown_seconds(spec, direction))


@given(spec=specs, last=hs.floats(0, 1e9))
def test_no_action_is_allowed_before_next_scale_time(spec: Spec, last: float) -> None:
    nxt = cooldowns.next_scale_time(spec, last)
    assert nxt is not None and nxt >= last
    for direction in ("up", "down"):
        assert cooldowns.allowed_at(spec, last, direction) >= nxt

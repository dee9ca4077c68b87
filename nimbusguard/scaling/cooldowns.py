"""Cooldowns between scaling actions (pure; the workflow and the simulator share them).

The last scaling time lives in the policy's status, so the cooldown survives a restart of
the operator: status is the memory. Times are seconds since the epoch.
"""

from __future__ import annotations

from typing import Literal, Protocol

Direction = Literal["up", "down"]


class CooldownSpec(Protocol):
    """The fields of `spec.scaling` that set cooldowns."""

    @property
    def cooldown_period(self) -> int: ...
    @property
    def scale_up_cooldown(self) -> int | None: ...
    @property
    def scale_down_cooldown(self) -> int | None: ...


def cooldown_seconds(spec: CooldownSpec, direction: Direction) -> int:
    """How long after any scaling action a scaling in `direction` must wait."""
    override = spec.scale_up_cooldown if direction == "up" else spec.scale_down_cooldown
    return spec.cooldown_period if override is None else override


def allowed_at(spec: CooldownSpec, last_scaling: float | None, direction: Direction) -> float:
    """Earliest time a scaling in `direction` is allowed (0 when there was none yet)."""
    if last_scaling is None:
        return 0.0
    return last_scaling + cooldown_seconds(spec, direction)


def next_scale_time(spec: CooldownSpec, last_scaling: float | None) -> float | None:
    """Earliest time any scaling is allowed, or None when nothing limits it."""
    if last_scaling is None:
        return None
    return min(allowed_at(spec, last_scaling, "up"), allowed_at(spec, last_scaling, "down"))


def remaining(
    spec: CooldownSpec, last_scaling: float | None, direction: Direction, now: float
) -> float:
    """Seconds still to wait before scaling in `direction` (0 when allowed now)."""
    return max(0.0, allowed_at(spec, last_scaling, direction) - now)

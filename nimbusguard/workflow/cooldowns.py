"""Cooldowns between scaling actions: the pure rules live in `nimbusguard.scaling.cooldowns`
(the simulator applies them too); re-exported here for the workflow and the controllers."""

from __future__ import annotations

from nimbusguard.scaling.cooldowns import (
    CooldownSpec,
    Direction,
    allowed_at,
    cooldown_seconds,
    next_scale_time,
    remaining,
)

__all__ = [
    "CooldownSpec",
    "Direction",
    "allowed_at",
    "cooldown_seconds",
    "next_scale_time",
    "remaining",
]

"""The learner's discrete actions: how much headroom to keep over the forecast.

Action i provisions for the forecast peak load over the horizon plus `levels[i]` forecast
standard deviations (`nimbusguard.scaling.forecast`):

    up_i   = ceil(s × (ŷ + levels[i] × σ) ÷ slo_ratio)

so that the peak runs at the SLO threshold at most with the chosen risk. Scale-down has
hysteresis: an action lowers the replicas only to `down_i`, the count at `levels[i] + band`
headroom, and only when that is below the current count; otherwise it holds. Noise that would
otherwise turn into scale-downs a returning load has to wait a startup for is absorbed by the
band, as the HPA's tolerance absorbs it (replicas requested and then removed before they serve
are pure cost: the capacity ready at a step is the minimum of the counts set over the startup
before it).

A level is in units of the forecast's σ, so the table means the same at 3 replicas and at 300
and for calm and volatile load alike; which level is cheapest at the budget depends on the state
(rising or falling forecast, volatility), which is what the Q-table learns.
"""

from __future__ import annotations

import dataclasses

from nimbusguard.scaling.forecast import Forecast


@dataclasses.dataclass(frozen=True, slots=True)
class ActionSet:
    """Headroom levels (in σ of the forecast) and the scale-down band; part of a table's layout."""

    levels: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    band: float = 1.0

    def __post_init__(self) -> None:
        if not self.levels or any(level < 0 for level in self.levels):
            raise ValueError("levels must be >= 0 and not empty")
        if list(self.levels) != sorted(self.levels) or self.band < 0:
            raise ValueError("levels must be sorted and band >= 0")

    @property
    def size(self) -> int:
        """Number of actions."""
        return len(self.levels)

    def name(self, action: int) -> str:
        """Short name for metric labels and explanations."""
        return f"headroom {self.levels[action]:g}σ"

    def targets(self, forecast: Forecast, current: int, slo_ratio: float) -> list[int]:
        """Replicas each action asks for, before the shield (index = action)."""
        out = []
        for level in self.levels:
            up = forecast.replicas(level, slo_ratio)
            if up >= current:
                out.append(up)
                continue
            down = forecast.replicas(level + self.band, slo_ratio)
            out.append(down if down < current else current)
        return out

"""The learner's discrete state: what it knows about the load when it decides.

A state is the tuple of five bucket indices, flattened to one integer:

| feature | definition | buckets (default) |
|---|---|---|
| rise | forecast peak over the horizon ÷ load now (`forecast`) | `rise_edges` (4) |
| volatility | the forecast's σ, a fraction of the load | `sigma_edges` (4) |
| pending | replicas requested but not ready yet | 2: none, some |
| position | replicas against the bounds | 3: at min, between, at max |
| time of day | equal slices of 24 h | `time_of_day_bins` (1: not used) |

These are what decides which headroom is cheapest at the SLO budget: how far the load is
expected to move within the horizon, and how uncertain that is. Utilization is not in the state:
the actions set the replicas from the forecast, whatever they are now.

`DemandTracker` keeps the one-hour EWMA of the load (`reference_seconds`), the scale the reward
prices replicas in, weighted by the real time between observations.
"""

from __future__ import annotations

import bisect
import dataclasses
import math

_FLOOR = 1e-6  # demand is never divided by less than this


@dataclasses.dataclass(frozen=True, slots=True)
class StateSpace:
    """The bucket edges; part of a Q-table's layout (a table is only valid for its layout)."""

    rise_edges: tuple[float, ...] = (1.02, 1.08, 1.2)
    sigma_edges: tuple[float, ...] = (0.04, 0.07, 0.12)
    time_of_day_bins: int = 1
    reference_seconds: float = 3600.0

    def __post_init__(self) -> None:
        for edges in (self.rise_edges, self.sigma_edges):
            if not edges or list(edges) != sorted(edges):
                raise ValueError("bucket edges must be sorted and not empty")
        if not 1 <= self.time_of_day_bins <= 24:
            raise ValueError("time_of_day_bins must be in 1..24")
        if self.reference_seconds <= 0:
            raise ValueError("reference_seconds must be > 0")

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """Buckets per feature: rise, volatility, pending, position, time of day."""
        return (
            len(self.rise_edges) + 1,
            len(self.sigma_edges) + 1,
            2,
            3,
            self.time_of_day_bins,
        )

    @property
    def size(self) -> int:
        """Number of states."""
        return math.prod(self.shape)

    def index(self, features: Features) -> int:
        """The flat state number of `features`."""
        return self.index_of(
            features.rise,
            features.sigma,
            features.pending,
            features.position,
            features.time_of_day,
        )

    def index_of(
        self,
        rise: float,
        sigma: float,
        pending: bool,
        position: int,
        time_of_day: float | None,
    ) -> int:
        """`index` without building a `Features` (the learner's hot path)."""
        r = bisect.bisect_right(self.rise_edges, rise)
        v = bisect.bisect_right(self.sigma_edges, sigma)
        bins = self.time_of_day_bins
        tod = 0
        if time_of_day is not None and bins > 1:
            tod = min(int(time_of_day / 24.0 * bins), bins - 1)
        flat = (r * (len(self.sigma_edges) + 1) + v) * 2 + (1 if pending else 0)
        return (flat * 3 + position) * bins + tod

    def describe(self, features: Features) -> str:
        """The state in words, for reasoning sentences."""
        edges = self.rise_edges
        if features.rise < edges[0]:
            trend = "falling or flat"
        elif features.rise < edges[1]:
            trend = "rising a little"
        elif features.rise < edges[-1]:
            trend = "rising"
        else:
            trend = "surging"
        text = f"load {trend} (peak ÷ now {features.rise:.2f}, σ {features.sigma:.0%})"
        if features.pending:
            text += ", replicas starting"
        if features.position == 0:
            text += ", at minReplicas"
        elif features.position == 2:
            text += ", at maxReplicas"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class Features:
    """The continuous values behind a state (kept for explanations)."""

    rise: float
    sigma: float
    pending: bool
    position: int  # 0 at or below min, 1 between, 2 at or above max
    time_of_day: float | None


def position(replicas: int, min_replicas: int, max_replicas: int) -> int:
    """0 at or below min, 2 at or above max, 1 between."""
    if replicas <= min_replicas:
        return 0
    if replicas >= max_replicas:
        return 2
    return 1


class DemandTracker:
    """The one-hour exponentially weighted level of demand, by elapsed time."""

    def __init__(self, space: StateSpace) -> None:
        self._tau = space.reference_seconds
        self.reference = 0.0
        self.time: float | None = None

    def update(self, time: float, demand: float) -> float:
        """Fold in `demand` at `time` and return the level. A time at or before the last one
        changes nothing (a replayed evaluation)."""
        if self.time is None:
            self.reference = demand
            self.time = time
        elif time > self.time:
            dt = time - self.time
            self.reference += (1.0 - math.exp(-dt / self._tau)) * (demand - self.reference)
            self.time = time
        return self.reference

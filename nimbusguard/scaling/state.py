"""The learner's discrete state: what it knows about the load when it decides.

A state is the tuple of five bucket indices, flattened to one integer:

| feature | definition | buckets (default) |
|---|---|---|
| utilization | per-ready-replica metric ÷ target (1.0 = on target) | `utilization_edges` (7) |
| trend | (fast level − slow level) ÷ slow level | `trend_edges` (3: falling/flat/rising) |
| pending | replicas requested but not ready yet | 2: none, some |
| position | replicas against the bounds | 3: at min, between, at max |
| time of day | equal slices of 24 h | `time_of_day_bins` (1: not used) |

Demand is `utilization × ready replicas` (the load in target units). The levels are
exponentially weighted averages of demand with time constants `fast_seconds` (60 s),
`slow_seconds` (300 s) and `reference_seconds` (1 h, the scale the reward prices replicas in),
weighted by the real time between observations so irregular evaluation intervals and restarts do
not distort them (`DemandTracker`).

The table is small on purpose (126 states by default): with the learner's counterfactual
updates every decision updates all actions of its state, so each state gathers enough samples to
tell actions apart by rare SLO violations; finer buckets (tried: 10 utilization × 5 trend × 5
deviation buckets) made the estimates too noisy to beat a calibrated HPA.
"""

from __future__ import annotations

import bisect
import dataclasses
import math

_FLOOR = 1e-6  # demand is never divided by less than this


@dataclasses.dataclass(frozen=True, slots=True)
class StateSpace:
    """The bucket edges; part of a Q-table's layout (a table is only valid for its layout)."""

    utilization_edges: tuple[float, ...] = (0.7, 0.85, 0.95, 1.05, 1.15, 1.3)
    trend_edges: tuple[float, ...] = (-0.03, 0.03)
    time_of_day_bins: int = 1
    fast_seconds: float = 60.0
    slow_seconds: float = 300.0
    reference_seconds: float = 3600.0

    def __post_init__(self) -> None:
        for edges in (self.utilization_edges, self.trend_edges):
            if not edges or list(edges) != sorted(edges):
                raise ValueError("bucket edges must be sorted and not empty")
        if not 1 <= self.time_of_day_bins <= 24:
            raise ValueError("time_of_day_bins must be in 1..24")
        if not 0 < self.fast_seconds < self.slow_seconds <= self.reference_seconds:
            raise ValueError("need 0 < fast_seconds < slow_seconds <= reference_seconds")

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """Buckets per feature: utilization, trend, pending, position, time of day."""
        return (
            len(self.utilization_edges) + 1,
            len(self.trend_edges) + 1,
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
            features.utilization,
            features.trend,
            features.pending,
            features.position,
            features.time_of_day,
        )

    def index_of(
        self,
        utilization: float,
        trend: float,
        pending: bool,
        position: int,
        time_of_day: float | None,
    ) -> int:
        """`index` without building a `Features` (the learner's hot path)."""
        u = bisect.bisect_right(self.utilization_edges, utilization)
        tr = bisect.bisect_right(self.trend_edges, trend)
        bins = self.time_of_day_bins
        tod = 0
        if time_of_day is not None and bins > 1:
            tod = min(int(time_of_day / 24.0 * bins), bins - 1)
        flat = (u * (len(self.trend_edges) + 1) + tr) * 2 + (1 if pending else 0)
        return (flat * 3 + position) * bins + tod

    def describe(self, features: Features) -> str:
        """The state in words, for reasoning sentences."""
        if features.trend > self.trend_edges[-1]:
            trend = "rising"
        elif features.trend < self.trend_edges[0]:
            trend = "falling"
        else:
            trend = "flat"
        text = f"utilization {features.utilization:.2f}× target, load {trend}"
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

    utilization: float
    trend: float
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
    """Fast, slow and reference exponentially weighted levels of demand, by elapsed time."""

    def __init__(self, space: StateSpace) -> None:
        self._taus = (space.fast_seconds, space.slow_seconds, space.reference_seconds)
        self.fast = 0.0
        self.slow = 0.0
        self.reference = 0.0
        self.time: float | None = None

    def update(self, time: float, demand: float) -> float:
        """Fold in `demand` at `time` and return the trend. A time at or before the last one
        changes nothing (a replayed evaluation)."""
        if self.time is None:
            self.fast = self.slow = self.reference = demand
            self.time = time
        elif time > self.time:
            dt = time - self.time
            fast_tau, slow_tau, ref_tau = self._taus
            self.fast += (1.0 - math.exp(-dt / fast_tau)) * (demand - self.fast)
            self.slow += (1.0 - math.exp(-dt / slow_tau)) * (demand - self.slow)
            self.reference += (1.0 - math.exp(-dt / ref_tau)) * (demand - self.reference)
            self.time = time
        return self.trend

    @property
    def trend(self) -> float:
        """(fast − slow) ÷ slow: positive while the load rises."""
        return (self.fast - self.slow) / max(self.slow, _FLOOR)

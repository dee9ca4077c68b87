"""What one evaluation of a policy saw, and what the HPA formula recommends from it."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """One evaluation's view of the target; the operator and the simulator fill it alike.

    - `time`: seconds on any monotonic scale shared by all observations of one policy.
    - `replicas`: what the target's scale says now (spec.replicas, pending ones included).
    - `ready_replicas`: replicas that are ready and serving.
    - `utilization`: the per-ready-replica metric divided by its target (1.0 = on target). The
      demand in target units is `utilization × ready_replicas` (see `demand`).
    - `pending_replicas`: replicas requested but not yet ready; `None` means
      `max(0, replicas - ready_replicas)`.
    - `time_of_day`: hours in [0, 24) in the workload's local time, or `None` if unknown.

    Raises ValueError for negative counts or a utilization that is negative, NaN or infinite:
    such an observation must never reach the Q-table.
    """

    time: float
    replicas: int
    ready_replicas: int
    utilization: float
    pending_replicas: int | None = None
    time_of_day: float | None = None

    def __post_init__(self) -> None:
        if self.replicas < 0 or self.ready_replicas < 0:
            raise ValueError(
                f"replica counts must not be negative: replicas={self.replicas}, "
                f"ready={self.ready_replicas}"
            )
        if not math.isfinite(self.utilization) or self.utilization < 0.0:
            raise ValueError(f"utilization must be finite and >= 0, got {self.utilization!r}")
        if self.pending_replicas is not None and self.pending_replicas < 0:
            raise ValueError(f"pending_replicas must not be negative: {self.pending_replicas}")
        if self.time_of_day is not None and not 0.0 <= self.time_of_day < 24.0:
            raise ValueError(f"time_of_day must be in [0, 24), got {self.time_of_day!r}")

    @property
    def pending(self) -> int:
        """Replicas requested but not ready yet."""
        if self.pending_replicas is not None:
            return self.pending_replicas
        return max(0, self.replicas - self.ready_replicas)

    @property
    def demand(self) -> float:
        """The load in target units: how many replicas it takes to run exactly on target.

        With no ready replica the sources report the load as one replica's (they divide by
        max(ready, 1)), so it still shows: a target at zero under load must wake up."""
        return self.utilization * max(self.ready_replicas, 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Recommendation:
    """What the HPA formula recommends for one observation.

    - `replicas`: the recommendation after tolerance, stabilization, rate limits and clamping.
    - `reason`: one short sentence for `status.lastDecision.reasoning` and the Event.
    - `raw_replicas`: the formula's proposal before stabilization, limits and clamping.
    - `lowest_allowed` / `highest_allowed`: the replica range the rate policies and min/max
      allow at this moment (the learner's shield reuses it as its step limit).
    """

    replicas: int
    reason: str
    raw_replicas: int
    lowest_allowed: int
    highest_allowed: int

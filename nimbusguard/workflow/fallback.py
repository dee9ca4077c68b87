"""The fallback ladder for evaluations whose primary metric is unavailable (pure).

1. Hold the current replicas while the failure is younger than the grace period (a short
   outage of Prometheus must not move anything).
2. Then, if another metric source still works, follow the HPA formula on it.
3. Otherwise raise the replicas to `fallbackReplicas` when that is higher than now. Without a
   metric the operator never scales down. A target at 0 replicas is held at 0 from the start:
   an empty answer is what a query over no pods gives, and 0 may be a maintenance setting.
4. Otherwise keep holding.

Nothing on this ladder updates the Q-table: the learner only learns from valid metrics.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from nimbusguard.scaling import observation

Rung = Literal["hold", "secondary", "floor"]


@dataclasses.dataclass(frozen=True)
class Step:
    replicas: int
    rung: Rung
    reason: str


def choose(
    *,
    current: int,
    failing_for: float,
    grace: float,
    secondary: observation.Recommendation | None,
    secondary_name: str | None,
    fallback_replicas: int | None,
    max_replicas: int,
) -> Step:
    """The replicas to set this evaluation, and why."""
    if current == 0:
        # Scaled to zero (by hand, or by the policy with minReplicas 0): with no pods most
        # queries answer nothing, which is no sign of trouble; never raise it blind.
        return Step(0, "hold", "the target has 0 replicas: holding at 0 without a metric")
    if failing_for < grace:
        return Step(
            current,
            "hold",
            f"holding {current} replicas: the metric has failed for {failing_for:.0f}s "
            f"(grace {grace:.0f}s)",
        )
    if secondary is not None:
        return Step(
            secondary.replicas,
            "secondary",
            f"HPA formula on the {secondary_name} metric: {secondary.reason}",
        )
    if fallback_replicas is not None and min(fallback_replicas, max_replicas) > current:
        floor = min(fallback_replicas, max_replicas)
        return Step(
            floor,
            "floor",
            f"no metric works: raising to fallbackReplicas {floor} (never scaling down blind)",
        )
    return Step(current, "hold", f"no metric works: holding {current} replicas")

"""The reward: what one decision earned once its consequences are known.

A decision's replica count takes effect over one startup horizon (added replicas are ready only
then; removed ones stop at once), so a decision is judged on the observations that follow it up
to the first one at least `horizon_seconds` later. For a candidate replica count R:

    reward = − λ × (fraction of those observations in violation)       the SLO term
             − cost × R ÷ max(mean demand, 1)                          the replica cost
             − churn × (1 if R differs from the replicas at decision time)

- A violation is demand ÷ capacity > `slo_ratio` (utilization above `slo_ratio` × target).
  Capacity at the last observation is R (everything requested is ready by then); before it, it is
  min(R, replicas that were ready anyway), because added replicas are still starting. For
  learning, the indicator is smoothed linearly over ±`softness` × slo_ratio around the threshold
  (a near miss counts a little, a narrow breach not fully), which cuts the noise of rare events
  without moving their expected rate much.
- Cost is R in units of the load (1.0 = every replica runs exactly at target), so the weights
  mean the same for a workload of 3 replicas and one of 300.
- λ, the price of a violation, starts at `slo` and is adapted by the learner so that the
  violation rate settles below the SLO budget (`nimbusguard.scaling.learner`): the trade-off
  between cost and violations is then set by the budget a user states, not by a guessed weight.
- Defaults: slo (initial λ) 12, cost 1, churn 0.1, slo_ratio 1.25 (in the operator a violation
  is the metric 25 % above its target; the simulator passes slo_utilization ÷ hpa_target,
  0.9 ÷ 0.7 ≈ 1.29), softness 0.05.

The same function rates every action (the counterfactuals that give the learner full coverage),
the HPA baseline's choice and the learner's choice (the shadow rewards behind promotion).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True, slots=True)
class RewardWeights:
    """Weights and the SLO threshold of the reward (module docstring)."""

    slo: float = 12.0
    cost: float = 1.0
    churn: float = 0.1
    slo_ratio: float = 1.25
    softness: float = 0.05

    def __post_init__(self) -> None:
        if min(self.slo, self.cost, self.churn, self.softness) < 0 or self.slo_ratio <= 0:
            raise ValueError("reward weights must be >= 0 and slo_ratio > 0")


@dataclasses.dataclass(frozen=True, slots=True)
class Path:
    """The observations after a decision, up to the horizon: demand (target units) and the ready
    replicas at each, plus what was ready and set when the decision was taken."""

    demands: Sequence[float]
    ready: Sequence[int]
    ready_at_decision: int
    replicas_at_decision: int
    reference: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """Per candidate: `cost` (replica cost plus churn, ≥ 0), `slo` (smoothed violation
    fraction) and `breach` (1.0 if the last observation, when the candidate's replicas are all
    ready, is in violation: the part of the outcome the decision alone controls)."""

    cost: list[float]
    slo: list[float]
    breach: list[float]

    def reward(self, i: int, price: float) -> float:
        """The reward of candidate `i` when a violation costs `price` (λ)."""
        return -self.cost[i] - price * self.slo[i]


def score(weights: RewardWeights, path: Path, replicas: Sequence[int]) -> Outcome:
    """Rate each candidate replica count over `path` (plain Python: a few dozen numbers)."""
    demands = path.demands
    n = len(demands)
    last = n - 1
    reference = path.reference if path.reference is not None else sum(demands) / n
    per_replica = weights.cost / max(reference, 1.0)
    # Capacity before the last observation: replicas that were ready without any change.
    base = [max(path.ready_at_decision, r) for r in path.ready]
    limit = weights.slo_ratio
    soft = weights.softness * limit
    half_width = 1.0 / (2.0 * soft) if soft > 0 else 0.0
    cost: list[float] = []
    slo: list[float] = []
    breach: list[float] = []
    for r in replicas:
        smooth = 0.0
        plain = 0
        excess = 0.0
        for j in range(n):
            cap = r if j == last or r < base[j] else base[j]
            excess = demands[j] / (cap if cap > 0 else 1e-9) - limit
            if excess > 0:
                plain += 1
            if soft > 0:
                x = (excess + soft) * half_width
                smooth += 1.0 if x >= 1.0 else (x if x > 0.0 else 0.0)
        cost.append(per_replica * r + (weights.churn if r != path.replicas_at_decision else 0.0))
        slo.append((smooth if soft > 0 else plain) / n)
        breach.append(1.0 if excess > 0 else 0.0)
    return Outcome(cost, slo, breach)

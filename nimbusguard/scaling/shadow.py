"""The policy's own HPA, run on the same load while the learner acts: the exact counterfactual.

While the learner acts, the HPA's recommendation at each evaluation is computed from the replicas
the *learner* set; what the HPA would have cost and violated had it kept acting is another
trajectory. Since the load does not depend on the replica count (the learner's coverage
assumption, `nimbusguard.scaling.learner`), that trajectory can be run alongside: a copy of the
policy's `HPABaseline` taken when the learner starts acting, its own replicas, its own replicas
starting (ready one startup after the request) and the policy's cooldowns, fed the load each
evaluation observes. Promotion then compares what really happened with it
(`promotion.PromotionTracker.record_acting`): replica cost and SLO violations, evaluation by
evaluation, including the evaluations the cooldown held.

A violation is counted as the SLO is metered (`interval_violation`): the observation itself,
and, for the part of the interval before it that no evaluation sees, the capacity that served
there (replicas that became ready only now did not) against the load now.
"""

from __future__ import annotations

import collections
import copy
import dataclasses

from nimbusguard.scaling import cooldowns, hpa
from nimbusguard.scaling.observation import Observation

_SLACK = 1e-6


def interval_violation(
    load: float, ready_now: int, ready_before: int, slo_ratio: float, unseen: float
) -> float:
    """The violated share of the interval ending at an observation: weight 1 − `unseen` on the
    observation (load ÷ ready now) and `unseen` on the part no evaluation sees, served by
    `ready_before` (what was ready through the interval, before replicas that arrived now)."""
    now = 1.0 if load > slo_ratio * max(ready_now, 1e-9) else 0.0
    if unseen <= 0:
        return now
    before = 1.0 if load > slo_ratio * max(ready_before, 1e-9) else 0.0
    return (1.0 - unseen) * now + unseen * before


@dataclasses.dataclass(frozen=True, slots=True)
class ShadowStep:
    """One evaluation of the shadow HPA: the replicas it set and its violated share."""

    replicas: int
    violation: float


class ShadowHPA:
    """The policy's HPA on its own replicas (module docstring)."""

    def __init__(
        self,
        baseline: hpa.HPABaseline,
        obs: Observation,
        last_scaling_time: float | None,
        startup_seconds: float,
    ) -> None:
        self.baseline = copy.deepcopy(baseline)
        self.replicas = obs.replicas
        self.ready = obs.ready_replicas
        # Replicas starting now: assumed ready one startup from now (their age is unknown).
        self._pending: collections.deque[float] = collections.deque(
            [obs.time + startup_seconds] * max(0, obs.replicas - obs.ready_replicas)
        )
        self._startup = startup_seconds
        self._last_scaling = last_scaling_time
        self._last_time: float | None = None

    def step(
        self, obs: Observation, cooldown: cooldowns.CooldownSpec, slo_ratio: float, unseen: float
    ) -> ShadowStep | None:
        """Evaluate as the HPA would have on its own replicas; None for a replayed time."""
        if self._last_time is not None and obs.time <= self._last_time + _SLACK:
            return None
        self._last_time = obs.time
        load = obs.demand
        before = self.ready
        while self._pending and self._pending[0] <= obs.time + _SLACK:
            self._pending.popleft()
            self.ready += 1
        violation = interval_violation(load, self.ready, before, slo_ratio, unseen)
        mine = Observation(
            time=obs.time,
            replicas=self.replicas,
            ready_replicas=self.ready,
            utilization=load / max(self.ready, 1),
            pending_replicas=len(self._pending),
            time_of_day=obs.time_of_day,
        )
        wanted = self.baseline.recommend(mine).replicas
        if wanted != self.replicas:
            direction: cooldowns.Direction = "up" if wanted > self.replicas else "down"
            if cooldowns.remaining(cooldown, self._last_scaling, direction, obs.time) <= 0:
                self._scale(obs.time, wanted)
        return ShadowStep(self.replicas, violation)

    def _scale(self, time: float, wanted: int) -> None:
        self.baseline.record_scale(time, self.replicas, wanted)
        self._last_scaling = time
        if wanted > self.replicas:
            self._pending.extend([time + self._startup] * (wanted - self.replicas))
        else:
            remove = self.replicas - wanted
            while remove and self._pending:
                self._pending.pop()  # starting replicas go first, the youngest first
                remove -= 1
            self.ready -= remove
        self.replicas = wanted

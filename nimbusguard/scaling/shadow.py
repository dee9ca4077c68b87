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

import copy
import dataclasses
import math
from typing import Any

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
        # A list: a few entries, and an empty deque is a 64-slot block (docs/scaling.md).
        self._pending: list[float] = [obs.time + startup_seconds] * max(
            0, obs.replicas - obs.ready_replicas
        )
        self._startup = startup_seconds
        self._last_scaling = last_scaling_time
        self._last_time: float | None = None

    # -- persistence (the learner's snapshot) ------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Its trajectory as JSON-able values: replicas, ready, the times its starting replicas
        will be ready, its last scaling and evaluation, and its HPA's history."""
        return {
            "replicas": self.replicas,
            "ready": self.ready,
            "pending": list(self._pending),
            "last_scaling": self._last_scaling,
            "last_time": self._last_time,
            "hpa": self.baseline.state(),
        }

    def resume(self, saved: dict[str, Any]) -> None:
        """Continue the trajectory `state` saved (checked by `check_state` when it was read)."""
        self.replicas, self.ready = int(saved["replicas"]), int(saved["ready"])
        self._pending = [float(t) for t in saved["pending"]]
        self._last_scaling = saved["last_scaling"]
        self._last_time = saved["last_time"]
        self.baseline.restore(saved["hpa"])

    def step(
        self, obs: Observation, cooldown: cooldowns.CooldownSpec, slo_ratio: float, unseen: float
    ) -> ShadowStep | None:
        """Evaluate as the HPA would have on its own replicas; None for a replayed time."""
        if self._last_time is not None and obs.time <= self._last_time + _SLACK:
            return None
        self._last_time = obs.time
        load = obs.demand
        before = self.ready
        ready = 0  # times are in order: the first `ready` have started
        while ready < len(self._pending) and self._pending[ready] <= obs.time + _SLACK:
            ready += 1
        del self._pending[:ready]
        self.ready += ready
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


MAX_REPLICAS = 100_000  # in a saved trajectory: far above any target's, bounds what a file holds


def check_state(saved: Any) -> dict[str, Any]:
    """`saved` if it is a trajectory `ShadowHPA.state` wrote; ValueError otherwise (counts out
    of range, more starting replicas than replicas, times not finite, a malformed HPA
    history)."""
    if not isinstance(saved, dict):
        raise ValueError("shadow state is not an object")
    replicas, ready = _count(saved.get("replicas")), _count(saved.get("ready"))
    if ready > replicas or replicas > MAX_REPLICAS:
        raise ValueError(f"shadow replicas {replicas} (ready {ready}) out of range")
    pending = saved.get("pending")
    if not isinstance(pending, list) or len(pending) > replicas:
        raise ValueError("shadow starting replicas are not a list of at most its replicas")
    times = [*pending, saved.get("last_scaling"), saved.get("last_time")]
    for i, value in enumerate(times):
        if value is None and i >= len(pending):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"shadow time is not a number: {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"shadow time is not finite: {value!r}")
    hpa.HPABaseline(hpa.HPAConfig()).restore(saved.get("hpa"))
    return saved


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"shadow replicas are not a count: {value!r}")
    return value

"""The service model: demand in cores against replicas that take time to start.

Timeline of step `t` (time `t × step_seconds`):

1. Replicas requested `startup_steps` steps ago become ready, where
   `startup_steps = max(1, ceil(startup_seconds / step_seconds))`: a replica requested at time T
   is ready at the first observation at or after T + startup_seconds.
2. The autoscaler observes `utilization = demand / ready` (in units of the HPA target, as the
   operator would read a metric against its target) and returns the replicas it wants.
3. The step violates the SLO when `demand / ready > slo_utilization` with the ready replicas
   of point 1 (the decision of this step cannot help this step).
4. The decision is applied: clamped to [min_replicas, max_replicas]; added replicas are pending
   and cost from now; removed replicas stop at once, pending ones first and the youngest first
   (the ReplicaSet controller deletes not-ready pods before ready ones).
5. The step costs `replicas × step_seconds` (pending ones included).

Each ready replica serves one core.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from nimbusguard.scaling.observation import Observation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSettings:
    """Every number of the service model (the `simulate` flags of the same names)."""

    step_seconds: float = 15.0
    startup_seconds: float = 60.0
    min_replicas: int = 1
    max_replicas: int = 40
    slo_utilization: float = 0.9
    slo_budget: float = 0.01
    hpa_target: float = 0.7
    # The policy's cadence (spec.scaling.evaluationInterval and the cooldowns): the fast loop
    # (evaluate every 15 s, no cooldown) by default; the API's defaults are 30 s and 60 s.
    evaluation_interval_seconds: float = 15.0
    scale_up_cooldown_seconds: float = 0.0
    scale_down_cooldown_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.step_seconds <= 0 or self.startup_seconds < 0:
            raise ValueError("step-seconds must be > 0 and startup-seconds >= 0")
        if self.evaluation_interval_seconds < self.step_seconds - 1e-9:
            raise ValueError("evaluation-interval-seconds must be >= step-seconds")
        if min(self.scale_up_cooldown_seconds, self.scale_down_cooldown_seconds) < 0:
            raise ValueError("cooldowns must be >= 0")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= min-replicas <= max-replicas")
        if self.slo_utilization <= 0 or self.hpa_target <= 0:
            raise ValueError("slo-utilization and hpa-target must be > 0")
        if not 0 <= self.slo_budget < 1:
            raise ValueError("slo-budget must be in [0, 1)")

    @property
    def startup_steps(self) -> int:
        """Steps from a request until the replica is observed ready (at least 1)."""
        return max(1, math.ceil(self.startup_seconds / self.step_seconds - 1e-9))

    def needed(self, demand: FloatArray) -> IntArray:
        """Fewest ready replicas per step that keep utilization at or below the SLO."""
        need = np.ceil(demand / self.slo_utilization - 1e-9).astype(np.int64)
        return np.asarray(np.clip(need, self.min_replicas, self.max_replicas), dtype=np.int64)

    def initial_replicas(self, demand: FloatArray) -> int:
        """Ready replicas at step 0 for every dynamic autoscaler: enough for the first
        `startup_steps + 1` steps, so no run starts in a hole it cannot leave in time."""
        return int(self.needed(demand[: self.startup_steps + 1]).max())


class Autoscaler(Protocol):
    """Anything that picks replicas once a step. It may keep state across steps."""

    name: str

    def decide(self, step: int, obs: Observation) -> int:
        """Replicas wanted after observing `obs` at `step`."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Trajectory:
    """Per-step record of one run; arrays all have the trace's length."""

    replicas: IntArray  # after the step's decision (what is paid for)
    ready: IntArray  # serving during the step
    violations: npt.NDArray[np.bool_]


@dataclasses.dataclass(frozen=True, slots=True)
class RunMetrics:
    """What the benchmark reports per run."""

    slo_violation_fraction: float
    replica_hours: float
    scale_events_per_hour: float
    max_violation_minutes: float


def run(
    demand: FloatArray,
    autoscaler: Autoscaler,
    settings: ModelSettings,
    initial_replicas: int | None = None,
    progress: Callable[[int], None] | None = None,
    start_seconds: float = 0.0,
) -> Trajectory:
    """Drive `autoscaler` through `demand` (cores per step) and record what happened.

    Observation times are the trace's own: `start_seconds` (where the window starts in the
    trace) plus the step's offset; the time of day is taken from them (a trace starts at
    midnight). `progress`, if given, is called with the number of steps done every 1024 steps.
    """
    n = len(demand)
    k = settings.startup_steps
    lo, hi = settings.min_replicas, settings.max_replicas
    ready = initial_replicas if initial_replicas is not None else settings.initial_replicas(demand)
    ready = min(max(ready, lo), hi)
    pending: collections.deque[int] = collections.deque()  # ready-at step per pending replica
    out_replicas = np.empty(n, dtype=np.int64)
    out_ready = np.empty(n, dtype=np.int64)
    violations = np.zeros(n, dtype=np.bool_)
    step_s, target, slo = settings.step_seconds, settings.hpa_target, settings.slo_utilization
    for t in range(n):
        while pending and pending[0] <= t:
            pending.popleft()
            ready += 1
        d = float(demand[t])
        util = d / ready
        violations[t] = util > slo
        out_ready[t] = ready
        current = ready + len(pending)
        now = start_seconds + t * step_s
        obs = Observation(
            time=now,
            replicas=current,
            ready_replicas=ready,
            utilization=util / target,
            pending_replicas=len(pending),
            time_of_day=(now % 86400.0) / 3600.0,
        )
        desired = min(max(autoscaler.decide(t, obs), lo), hi)
        if desired > current:
            pending.extend([t + k] * (desired - current))
        elif desired < current:
            remove = current - desired
            while remove and pending:
                pending.pop()
                remove -= 1
            ready -= remove
        out_replicas[t] = desired
        if progress is not None and t % 1024 == 1023:
            progress(1024)
    if progress is not None:
        progress(n % 1024)
    return Trajectory(out_replicas, out_ready, violations)


def metrics(trajectory: Trajectory, initial_replicas: int, step_seconds: float) -> RunMetrics:
    """Summarize a run: violation fraction, replica-hours, scale events per hour, longest
    violation streak in minutes."""
    n = len(trajectory.replicas)
    hours = n * step_seconds / 3600.0
    before = np.concatenate(([initial_replicas], trajectory.replicas[:-1]))
    events = int(np.count_nonzero(trajectory.replicas != before))
    return RunMetrics(
        slo_violation_fraction=float(trajectory.violations.mean()) if n else 0.0,
        replica_hours=float(trajectory.replicas.sum()) * step_seconds / 3600.0,
        scale_events_per_hour=events / hours if hours else 0.0,
        max_violation_minutes=longest_run(trajectory.violations) * step_seconds / 60.0,
    )


def longest_run(flags: npt.NDArray[np.bool_]) -> int:
    """Length of the longest run of True values."""
    if not flags.any():
        return 0
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())

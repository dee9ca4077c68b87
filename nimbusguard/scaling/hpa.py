"""A faithful HPA v2 replica calculation: the baseline the learner must beat and learns behind.

One `HPABaseline` per policy; it keeps the two pieces of state the HPA keeps per object: the
history of raw recommendations (for the stabilization windows) and the recent scale events (for
the rate policies). It reads no clock: every call carries its time in seconds.

The algorithm, per `recommend(obs)` (Kubernetes' horizontal pod autoscaler, resource metric):

1. A target scaled to 0 by hand stays at 0 (scaling is off) unless `min_replicas` is 0: then it
   wakes up to ceil(utilization) when there is load (scale from zero); out-of-range targets
   jump into range first: above `max_replicas` → max, below `min_replicas` → min.
2. Ratio rule: `raw = ceil(ready × utilization)`, nothing changes while
   `|1 − utilization| ≤ tolerance`. With replicas still starting, a scale-up counts them at 0 %
   (utilization × ready / (ready + pending)); if that ratio is within tolerance or points the
   other way, the HPA holds.
3. Stabilization: the recommendation moves no lower than the highest raw value of the last
   `scale_down.stabilization_window_seconds` and no higher than the lowest raw value of the
   last `scale_up.stabilization_window_seconds` (both windows include the current value).
4. Rate policies, over the scale events of the last `period_seconds`: scale-up to at most
   `max(start + max_pods, ceil(start × (1 + max_percent/100)))`, scale-down to at least
   `min(start − max_pods, floor(start × (1 − max_percent/100)))`, where `start` is the replica
   count at the beginning of the period. Kubernetes' defaults are exactly
   `HPAConfig(min, max)`: up max(4 pods, 100 %) per 15 s, down 100 % per 15 s, windows 0 s/300 s.
5. Clamp to [min_replicas, max_replicas].

Whoever changes the target's replicas (the baseline or the learner) calls `record_scale`, so the
rate policies see every change.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

from nimbusguard.scaling import observation


@dataclasses.dataclass(frozen=True, slots=True)
class ScaleRule:
    """Limits for one direction (the HPA behavior API's `scaleUp`/`scaleDown`).

    A step may move `max_pods` replicas or `max_percent` % of the period's starting replicas,
    whichever allows more, within `period_seconds`.
    """

    stabilization_window_seconds: float
    max_pods: int = 4
    max_percent: float = 100.0
    period_seconds: float = 15.0

    def __post_init__(self) -> None:
        if self.stabilization_window_seconds < 0 or self.period_seconds <= 0:
            raise ValueError("stabilization window must be >= 0 and the period > 0")
        if self.max_pods < 0 or self.max_percent < 0:
            raise ValueError("max_pods and max_percent must be >= 0")


def _default_scale_up() -> ScaleRule:
    return ScaleRule(stabilization_window_seconds=0.0, max_pods=4, max_percent=100.0)


def _default_scale_down() -> ScaleRule:
    # 100 % per period is the HPA default; the 4-pod policy never allows more than that.
    return ScaleRule(stabilization_window_seconds=300.0, max_pods=4, max_percent=100.0)


@dataclasses.dataclass(frozen=True, slots=True)
class HPAConfig:
    """Everything the baseline needs; defaults are Kubernetes' defaults."""

    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    scale_up: ScaleRule = dataclasses.field(default_factory=_default_scale_up)
    scale_down: ScaleRule = dataclasses.field(default_factory=_default_scale_down)

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas, got {self.min_replicas}, "
                f"{self.max_replicas}"
            )
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")

    @classmethod
    def from_spec(cls, scaling: ScalingSpecLike) -> HPAConfig:
        """Build from the API's `spec.scaling` (any object with its field names works)."""
        behavior = scaling.behavior
        return cls(
            min_replicas=scaling.min_replicas,
            max_replicas=scaling.max_replicas,
            tolerance=behavior.tolerance,
            scale_up=_rule_from_spec(behavior.scale_up),
            scale_down=_rule_from_spec(behavior.scale_down),
        )


class ScaleRuleLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.ScaleRule` this module reads."""

    @property
    def stabilization_window_seconds(self) -> int: ...
    @property
    def max_pods(self) -> int: ...
    @property
    def max_percent(self) -> int: ...


class BehaviorLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.Behavior` this module reads."""

    @property
    def tolerance(self) -> float: ...
    @property
    def scale_up(self) -> ScaleRuleLike: ...
    @property
    def scale_down(self) -> ScaleRuleLike: ...


class ScalingSpecLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.ScalingSpec` this module reads."""

    @property
    def min_replicas(self) -> int: ...
    @property
    def max_replicas(self) -> int: ...
    @property
    def behavior(self) -> BehaviorLike: ...


def _rule_from_spec(rule: ScaleRuleLike) -> ScaleRule:
    return ScaleRule(
        stabilization_window_seconds=float(rule.stabilization_window_seconds),
        max_pods=rule.max_pods,
        max_percent=float(rule.max_percent),
    )


# More replicas than any workload has; a bound before ceil(), which overflows on inf.
_MAX_PROPOSAL = 1e9


def _ceil(replicas: float) -> int:
    return math.ceil(min(replicas, _MAX_PROPOSAL))


def ratio_replicas(obs: observation.Observation, tolerance: float) -> tuple[int, str]:
    """Step 2 of the algorithm: the ratio rule with tolerance and starting replicas.

    Returns the raw proposal and the words that explain it.
    """
    ready, current, util = obs.ready_replicas, obs.replicas, obs.utilization
    if ready == 0:
        return current, f"no ready replicas among {current}: hold"
    pending = obs.pending
    head = f"utilization {util:.2f}× target at {ready} ready"
    if pending == 0 or util <= 1.0:
        if abs(1.0 - util) <= tolerance:
            return current, f"{head} is within the {tolerance:.0%} tolerance"
        return _ceil(util * ready), head
    # Scale-up with replicas still starting: they count at 0 % of target.
    counted = ready + pending
    adjusted = util * ready / counted
    head = f"{head} ({adjusted:.2f}× counting {pending} starting at 0)"
    if adjusted <= 1.0 + tolerance:
        return current, f"{head} is within tolerance"
    # ceil(adjusted × counted) is ceil(utilization × ready); the latter has no rounding noise.
    return max(current, _ceil(util * ready)), head


class HPABaseline:
    """Stateful HPA v2 recommender for one policy; see the module docstring for the algorithm."""

    def __init__(self, config: HPAConfig) -> None:
        self.config = config
        # (time, raw recommendation); kept for the longer of the two stabilization windows.
        # Lists, not deques: a window holds tens of entries, and an empty deque is a 64-slot
        # block (0.6 KB) where an empty list is 56 bytes; two baselines of three lists each
        # per policy were 3.4 MB of a thousand policies' memory (docs/scaling.md, "Memory").
        self._history: list[tuple[float, int]] = []
        # (time, replicas added) and (time, replicas removed), kept for the policy periods.
        self._ups: list[tuple[float, int]] = []
        self._downs: list[tuple[float, int]] = []

    def state(self) -> dict[str, list[list[float]]]:
        """The recommendation history and scale events, as JSON-able lists (for a snapshot of
        the HPA run alongside the learner, `nimbusguard.scaling.shadow`)."""
        return {
            "history": [[t, n] for t, n in self._history],
            "ups": [[t, n] for t, n in self._ups],
            "downs": [[t, n] for t, n in self._downs],
        }

    def restore(self, saved: Any) -> None:
        """Take over what `state` saved; ValueError (nothing changed) when it is not such a
        record. Each list is bounded (`MAX_EVENTS`): the windows it covers are minutes long."""
        if not isinstance(saved, dict):
            raise ValueError("HPA state is not an object")
        parsed = {name: _events(saved.get(name), name) for name in ("history", "ups", "downs")}
        self._history = parsed["history"]
        self._ups, self._downs = parsed["ups"], parsed["downs"]

    def record_scale(self, time: float, from_replicas: int, to_replicas: int) -> None:
        """Note that the target was changed at `time` (by anyone) for the rate policies."""
        if to_replicas > from_replicas:
            self._ups.append((time, to_replicas - from_replicas))
        elif to_replicas < from_replicas:
            self._downs.append((time, from_replicas - to_replicas))

    def allowed_range(self, time: float, current: int) -> tuple[int, int]:
        """Lowest and highest replicas the rate policies and min/max allow now."""
        cfg = self.config
        if current > cfg.max_replicas:
            return cfg.max_replicas, cfg.max_replicas
        if current < cfg.min_replicas:
            return cfg.min_replicas, cfg.min_replicas
        up, down = cfg.scale_up, cfg.scale_down
        start_up = current - _changed(self._ups, time, up.period_seconds)
        start_up += _changed(self._downs, time, up.period_seconds)
        up_limit = max(
            start_up + up.max_pods,
            math.ceil(start_up * (1.0 + up.max_percent / 100.0)),
        )
        start_down = current - _changed(self._ups, time, down.period_seconds)
        start_down += _changed(self._downs, time, down.period_seconds)
        down_limit = min(
            start_down - down.max_pods,
            math.floor(start_down * (1.0 - down.max_percent / 100.0)),
        )
        highest = min(cfg.max_replicas, max(up_limit, current))
        lowest = max(cfg.min_replicas, min(down_limit, current))
        return lowest, highest

    def recommend(self, obs: observation.Observation) -> observation.Recommendation:
        """The HPA's replicas for `obs`, with the reason; records the raw recommendation.

        Calling it again for the same observation (a replayed evaluation) gives the same answer.
        """
        cfg, now, current = self.config, obs.time, obs.replicas
        self._prune(now)
        if current == 0 and cfg.min_replicas > 0:
            # Kubernetes' "implicit maintenance mode": a target scaled to 0 by hand stays there.
            return observation.Recommendation(0, "scaled to 0 by hand: scaling is off", 0, 0, 0)
        if current == 0:
            # Scaled to zero by the policy (minReplicas 0): with no replica, the metric counts as
            # one replica's (the sources divide by max(ready, 1)); wake up when there is load.
            if obs.utilization <= cfg.tolerance:
                return observation.Recommendation(0, "no load at 0 replicas: stay at 0", 0, 0, 0)
            wake = min(cfg.max_replicas, max(1, _ceil(obs.utilization)))
            return observation.Recommendation(
                wake,
                f"load {obs.utilization:.2f}× one replica's target at 0 replicas → {wake}",
                wake,
                0,
                wake,
            )
        if current > cfg.max_replicas or current < cfg.min_replicas:
            bound = cfg.max_replicas if current > cfg.max_replicas else cfg.min_replicas
            word = "above maxReplicas" if current > cfg.max_replicas else "below minReplicas"
            return observation.Recommendation(
                replicas=bound,
                reason=f"{current} replicas {word} {bound}: set to {bound}",
                raw_replicas=bound,
                lowest_allowed=bound,
                highest_allowed=bound,
            )
        raw, reason = ratio_replicas(obs, cfg.tolerance)
        stabilized, why = self._stabilize(now, current, raw)
        self._history.append((now, raw))
        lowest, highest = self.allowed_range(now, current)
        replicas = min(max(stabilized, lowest), highest)
        if stabilized == raw:
            reason = f"{reason} → {raw}"
        else:
            reason = f"{reason} → {raw} (held at {stabilized} by the {why})"
        if stabilized > highest:
            limit = "maxReplicas" if highest == cfg.max_replicas else "the scale-up policy"
            reason = f"{reason} (limited to {replicas} by {limit})"
        elif stabilized < lowest:
            limit = "minReplicas" if lowest == cfg.min_replicas else "the scale-down policy"
            reason = f"{reason} (limited to {replicas} by {limit})"
        return observation.Recommendation(replicas, reason, raw, lowest, highest)

    def _stabilize(self, now: float, current: int, raw: int) -> tuple[int, str]:
        up_cut = now - self.config.scale_up.stabilization_window_seconds
        down_cut = now - self.config.scale_down.stabilization_window_seconds
        up_rec = down_rec = raw
        for t, value in self._history:
            if t > up_cut and value < up_rec:
                up_rec = value
            if t > down_cut and value > down_rec:
                down_rec = value
        result = max(current, up_rec)
        if result > down_rec:
            result = down_rec
        if result > raw:
            window = self.config.scale_down.stabilization_window_seconds
            return result, f"{window:g} s scale-down stabilization window"
        if result < raw:
            window = self.config.scale_up.stabilization_window_seconds
            return result, f"{window:g} s scale-up stabilization window"
        return result, ""

    def _prune(self, now: float) -> None:
        cfg = self.config
        keep = max(
            cfg.scale_up.stabilization_window_seconds,
            cfg.scale_down.stabilization_window_seconds,
        )
        _drop_until(self._history, now - keep)
        period = max(cfg.scale_up.period_seconds, cfg.scale_down.period_seconds)
        _drop_until(self._ups, now - period)
        _drop_until(self._downs, now - period)


def _drop_until(events: list[tuple[float, int]], cut: float) -> None:
    """Remove the leading events (in time order) at or before `cut`, in one deletion."""
    k = 0
    while k < len(events) and events[k][0] <= cut:
        k += 1
    if k:
        del events[:k]


MAX_EVENTS = 10_000  # per list in a saved HPA state; far above any window's evaluations


def _events(value: Any, name: str) -> list[tuple[float, int]]:
    if not isinstance(value, list) or len(value) > MAX_EVENTS:
        raise ValueError(f"HPA {name} is not a list of at most {MAX_EVENTS} events")
    events: list[tuple[float, int]] = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError(f"HPA {name} event is not [time, replicas]: {item!r}")
        t, n = item
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValueError(f"HPA {name} event time is not finite: {t!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"HPA {name} event replicas is not a count: {n!r}")
        events.append((float(t), n))
    return events


def _changed(events: list[tuple[float, int]], now: float, period: float) -> int:
    cutoff = now - period
    return sum(n for t, n in events if t > cutoff)

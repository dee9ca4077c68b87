"""Promotion to Active and demotion to Learning, from windows of rewards.

Rewards arrive once per judged decision (see `nimbusguard.scaling.reward`), in windows of
`window_decisions`. The learner passes the negative replica cost as the reward and the
violations separately: promotion compares **cost at equal violations**. Violations are rare
(under 1 % of steps), far too rare to compare in a window of 20 decisions, so each side's
violation rate is a long EWMA (`violation_decisions`, 2,000 decisions: the SLO budget is a
long-run share, and an EWMA over 400 decisions (100 min at 15 s) went over the budget in every
flash crowd, handing control back and forth); with `violation_aim` set:

- Learning: a window is *beaten* when the mean shadow reward of the learner's preferred actions
  is higher than the mean reward of the HPA baseline's recommendations over the same decisions,
  and the learner's violation rate is no higher than max(the baseline's, `violation_aim`); or
  when the baseline's violation rate is over the budget (`violation_limit`) and the learner's
  is lower by more than `demotion_margin` (a baseline that breaks the SLO is not cheaper at
  equal violations; while this holds, the learner is not demoted for its cost either). "Over
  the budget" means over it on the rolling memory *and* in the long run (a mean over at least
  `hand_back_decisions`, or half as many when it is over twice the budget, then an EWMA over
  4 × the memory; by more than `longrun_margin`, below).
  After `windows` consecutive beaten windows the policy becomes Active (condition
  BaselineBeaten=True, with the numbers). A window not beaten resets the count.
- Active: at each window's end, if the rolling reward of the learner (an EWMA over the same
  `violation_decisions`, continuing from its shadow record while Learning) is below the
  baseline's by more than `demotion_margin` × |baseline's| (one window of 20 decisions is mostly
  noise: a learner that spends its headroom where it is cheap costs more than the HPA in some
  windows and less in others, and demoting on one window handed control back within hours;
  the benchmark's cross-trace learner was Active in 29-71 % of the evaluations), or its
  violation rate is above both the budget (`violation_limit`) and the baseline's by more than
  the same margin (after a step in the load both run over the budget for hours; the margin
  keeps the learner from being demoted for a step it could not foresee either) *and* its
  long-run rate (kept like the baseline's, below) is over the budget (by `longrun_margin`)
  too, the policy goes back to Learning and says why.
- Active, with the policy's own HPA run alongside (`shadow`, fed through `record_acting`): the
  rolling cost above is only an estimate (each decision's candidates priced from the replicas
  the learner set), and on load with nothing to forecast it flattered the learner by 2-4 %,
  less than any margin could catch. Once `hand_back_decisions` evaluations were compared, the
  learner hands back (reason HandedBack) when what really happened cost more replicas than the
  HPA's own trajectory, unless that HPA is over the budget and violates clearly more. The gap
  between the two (the realised cost ratio over the estimated one) is kept as `bias`, and a
  later promotion must beat the HPA by it, per window and on the rolling estimate, so a
  learner that does not win is not promoted again on the same flattering estimate.

The long-run rates are compared with the budget × (1 + `longrun_margin`), for the HPA's rescue
and the learner's demotion alike. The learner sets it to `demotion_margin` where the policy's
evaluations miss some of the SLO's samples (an interval longer than the metric's), and the
rates are estimates: the samples between two evaluations are charged against the load at the
next one, which counts the sample before an upward step as violated (0.95 % estimated where
0.87 % were metered on the benchmark's cross-trace step with the API's 30 s evaluations).
Against the bare budget there, an HPA that kept it (0.955 % metered on the API loop's
same-trace flash crowd) was "rescued" after every hand-back, the learner acting at 1.05 × its
cost in turns of 500 evaluations, and a learner within it (0.87 %) was demoted for 17 hours
of the cross-trace step. Where every sample is evaluated the rates count the samples
themselves and the margin is 0 (in the benchmark's fast loop a margin cost the cross-trace
flash crowd 0.898 → 0.901 × the Alibaba-calibrated HPA, Alibaba 0.975 → 0.979 × hpa-tuned).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

LEARNING = "Learning"
ACTIVE = "Active"


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """A phase change and why, for the BaselineBeaten condition and the Event."""

    phase: str  # the new phase
    reason: str  # CamelCase condition reason
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class PromotionConfig:
    """`spec.aiConfig.promotion`; defaults are the API's."""

    windows: int = 5
    window_decisions: int = 20
    demotion_margin: float = 0.1

    def __post_init__(self) -> None:
        if self.windows < 1 or self.window_decisions < 1 or self.demotion_margin < 0:
            raise ValueError("windows and window_decisions must be >= 1, demotion_margin >= 0")


class PromotionTracker:
    """Counts windows and decides the phase (module docstring)."""

    def __init__(
        self,
        config: PromotionConfig,
        phase: str = LEARNING,
        windows_beaten: int = 0,
        violation_aim: float | None = None,
        violation_limit: float | None = None,
        violation_decisions: int = 2000,
        hand_back_decisions: int | None = None,
        longrun_margin: float = 0.0,
    ) -> None:
        self.config = config
        self.phase = phase
        self.windows_beaten = windows_beaten
        self.violation_aim = violation_aim
        self.violation_limit = violation_limit
        if longrun_margin < 0:
            raise ValueError("longrun_margin must be >= 0")
        self.longrun_margin = longrun_margin  # module docstring: where the rates are estimates
        self._weight = 1.0 / violation_decisions
        start = 0.0 if violation_aim is None else violation_aim
        self.learner_violations = start  # EWMA of the learner's violation share per decision
        self.baseline_violations = start
        # The baseline's long-run rate for the rescue below: a mean since the start, then an
        # EWMA over 4 × the memory. An HPA within the budget runs over it for hours after a
        # flash crowd (the 2,000-decision EWMA reached 1.4 % on the benchmark's test window,
        # where it spent 0.8 %); that is not an HPA that breaks the SLO.
        self.baseline_longrun = 0.0
        # The learner's long-run rate likewise: it is demoted for violations only when this is
        # over the budget too. On the 2,000-decision EWMA alone, every step and flash crowd
        # demoted a learner that kept the budget in the long run (0.79 % over the benchmark's
        # cross-trace step window), and the HPA calibrated elsewhere acted again for hours.
        self.learner_longrun = 0.0
        self._longrun_n = 0
        self.learner_mean: float | None = None  # of the last complete window
        self.baseline_mean: float | None = None
        self._learner_sum = 0.0
        self._baseline_sum = 0.0
        self._count = 0
        self._memory = violation_decisions
        # Rolling (EWMA) rewards over the same memory as the violations, carried across phase
        # changes: the shadow record that promoted the learner is its prior when Active.
        self.learner_rolling: float | None = None
        self.baseline_rolling: float | None = None
        # While Active: what really happened against the policy's HPA run alongside (means
        # since the promotion, then EWMAs over the same memory), and the estimate's sums.
        # A quarter of the memory by default (500 evaluations: 2 h at 15 s).
        self.hand_back_decisions = (
            violation_decisions // 4 if hand_back_decisions is None else hand_back_decisions
        )
        self.bias = 1.0
        self._start_acting()

    # -- persistence (the learner's snapshot) ------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything this tracker has measured, as JSON-able values (the learner's snapshot):
        the rolling violation rates and rewards, the baseline's long-run rate, the window in
        progress, the re-promotion bias and the hand-back evidence. A restart that dropped
        these would judge the learner afresh: 500 more evaluations before a hand-back, a bias
        forgotten, rolling rates back at the aim."""
        return {
            "learner_violations": self.learner_violations,
            "baseline_violations": self.baseline_violations,
            "baseline_longrun": self.baseline_longrun,
            "learner_longrun": self.learner_longrun,
            "longrun_n": self._longrun_n,
            "learner_mean": self.learner_mean,
            "baseline_mean": self.baseline_mean,
            "window": [self._learner_sum, self._baseline_sum, self._count],
            "learner_rolling": self.learner_rolling,
            "baseline_rolling": self.baseline_rolling,
            "bias": self.bias,
            "acting": self.acting,
            "real_cost": self.real_cost,
            "shadow_cost": self.shadow_cost,
            "real_violations": self.real_violations,
            "shadow_violations": self.shadow_violations,
            "estimate": list(self._estimate),
        }

    def restore(self, saved: Any) -> None:
        """Take over what `state` saved; ValueError (nothing changed) when it is not such a
        record: a missing or mistyped field, a rate outside [0, 1], a negative count or cost,
        a bias below 1 or anything not finite."""
        if not isinstance(saved, dict):
            raise ValueError("promotion state is not an object")
        rates = {k: _number(saved, k, 0.0, 1.0) for k in _RATES}
        costs = {k: _number(saved, k, 0.0, math.inf) for k in ("real_cost", "shadow_cost")}
        counts = {k: _count(saved.get(k), k) for k in ("longrun_n", "acting")}
        means = {k: _optional(saved, k) for k in _OPTIONAL}
        window = saved.get("window")
        estimate = saved.get("estimate")
        if not isinstance(window, list) or len(window) != 3:
            raise ValueError("promotion window is not [learner sum, baseline sum, count]")
        if not isinstance(estimate, list) or len(estimate) != 2:
            raise ValueError("promotion estimate is not [learner, baseline]")
        sums = [_finite(v, "window") for v in window[:2]]
        count = _count(window[2], "window count")
        estimates = [_finite(v, "estimate") for v in estimate]
        bias = _number(saved, "bias", 1.0, math.inf)
        # Records written before the learner's long-run rate was kept: its rolling rate is the
        # best estimate there is.
        longrun = "learner_longrun" if "learner_longrun" in saved else "learner_violations"
        learner_longrun = _number(saved, longrun, 0.0, 1.0)

        for name, value in rates.items():
            setattr(self, name, value)
        self.real_cost, self.shadow_cost = costs["real_cost"], costs["shadow_cost"]
        self._longrun_n, self.acting = counts["longrun_n"], counts["acting"]
        for name, optional in means.items():
            setattr(self, name, optional)
        self._learner_sum, self._baseline_sum = sums
        self._count = min(count, self.config.window_decisions - 1)
        self._estimate = estimates
        self.bias = bias
        self.learner_longrun = learner_longrun

    def _over_budget_long_run(self, limit: float) -> bool:
        """The baseline's long-run rate is over `limit`: after `hand_back_decisions`, or after
        half of them when it is over twice the limit (an HPA at 4 % need not be watched as
        long as one at 1.1 %). `limit` is the budget with the margin (module docstring)."""
        n, rate = self._longrun_n, self.baseline_longrun
        if n >= self.hand_back_decisions:
            return rate > limit
        return n >= self.hand_back_decisions // 2 and rate > 2.0 * limit

    def record_acting(
        self, real_cost: float, shadow_cost: float, real_violation: float, shadow_violation: float
    ) -> None:
        """Add one evaluation while Active: the replicas really set and their violated share,
        and those of the policy's HPA run alongside on the same load (`shadow`)."""
        self.acting += 1
        w = max(1.0 / self.acting, self._weight)
        self.real_cost += w * (real_cost - self.real_cost)
        self.shadow_cost += w * (shadow_cost - self.shadow_cost)
        self.real_violations += w * (real_violation - self.real_violations)
        self.shadow_violations += w * (shadow_violation - self.shadow_violations)

    def _start_acting(self) -> None:
        self.acting = 0
        self.real_cost = self.shadow_cost = 0.0
        self.real_violations = self.shadow_violations = 0.0
        self._estimate = [0.0, 0.0]

    def _hand_back(self) -> Transition | None:
        """HandedBack when the learner, compared long enough, cost more than the HPA's own
        trajectory (module docstring); None otherwise."""
        if self.acting < self.hand_back_decisions or self.real_cost <= self.shadow_cost:
            return None
        limit, margin = self.violation_limit, self.config.demotion_margin
        theirs, mine = self.shadow_violations, self.real_violations
        if limit is not None and theirs > limit and mine * (1.0 + margin) < theirs:
            return None  # it pays for keeping an HPA that breaks the SLO within the budget
        realised = self.real_cost / max(self.shadow_cost, 1e-12)
        lc, bc = self._estimate
        estimated = lc / bc if bc > 0 else 1.0
        self.bias = max(1.0, realised / max(estimated, 1e-12))
        self.phase = LEARNING
        self.windows_beaten = 0
        return Transition(
            LEARNING,
            "HandedBack",
            f"acting, the learner cost {realised:.3f} × the replicas of the policy's HPA run "
            f"alongside on the same load over {self.acting} evaluations (violations "
            f"{mine:.2%} vs {theirs:.2%}); the HPA acts again, and the learner must beat it "
            f"by {self.bias - 1.0:.1%} more than its estimate says to be promoted again",
        )

    def record(
        self,
        learner_reward: float,
        baseline_reward: float,
        learner_violation: float = 0.0,
        baseline_violation: float = 0.0,
        estimate: float | None = None,
    ) -> Transition | None:
        """Add one judged decision: the learner's reward and violation (shadow while Learning,
        real while Active) and the baseline's; returns a Transition when the phase changes.
        `estimate` is the learner's estimated reward for the decision (its preferred action's,
        as while Learning), kept while Active to measure how far it flatters (`bias`)."""
        w = self._weight
        self._longrun_n += 1
        # The rolling rates: a mean with a prior of a tenth of the memory at the aim, then the
        # EWMA. An EWMA starting at the aim took 6 h to see an HPA at 4 % (its long-run mean
        # said so within 2 h), and the learner took over only then.
        vw = max(1.0 / (self._longrun_n + 0.1 * self._memory), w)
        self.learner_violations += vw * (learner_violation - self.learner_violations)
        self.baseline_violations += vw * (baseline_violation - self.baseline_violations)
        long_w = max(1.0 / self._longrun_n, w / 4.0)
        self.baseline_longrun += long_w * (baseline_violation - self.baseline_longrun)
        self.learner_longrun += long_w * (learner_violation - self.learner_longrun)
        if self.learner_rolling is None or self.baseline_rolling is None:
            self.learner_rolling, self.baseline_rolling = learner_reward, baseline_reward
        else:
            self.learner_rolling += w * (learner_reward - self.learner_rolling)
            self.baseline_rolling += w * (baseline_reward - self.baseline_rolling)
        if self.phase == ACTIVE:
            self._estimate[0] -= learner_reward if estimate is None else estimate
            self._estimate[1] -= baseline_reward
        self._learner_sum += learner_reward
        self._baseline_sum += baseline_reward
        self._count += 1
        if self._count < self.config.window_decisions:
            return None
        n = self._count
        learner, baseline = self._learner_sum / n, self._baseline_sum / n
        self.learner_mean, self.baseline_mean = learner, baseline
        self._learner_sum = self._baseline_sum = 0.0
        self._count = 0
        cfg = self.config
        mine, theirs = self.learner_violations, self.baseline_violations
        limit = self.violation_limit
        # A baseline over the SLO budget is not cheaper "at equal violations": a learner that
        # violates clearly less (by the margin) wins against it whatever it costs. Not only one
        # already within the budget: where the load has drifted from the history, the
        # learner's own rate is still falling towards its aim while the budget controller
        # raises the price, and waiting for it to be within the budget left the HPA acting at
        # 4 % violations for 16 hours of the drift benchmark.
        rescue = (
            limit is not None
            and theirs > limit
            and self._over_budget_long_run(limit * (1.0 + self.longrun_margin))
            and mine * (1.0 + cfg.demotion_margin) < theirs
        )
        if self.phase == LEARNING:
            safe = self.violation_aim is None or mine <= max(theirs, self.violation_aim)
            cheaper = learner * self.bias > baseline
            if self.bias > 1.0:  # handed back before: the long estimate must win by it too
                rolling_l, rolling_b = self.learner_rolling or 0.0, self.baseline_rolling or 0.0
                cheaper = cheaper and rolling_l * self.bias > rolling_b
            won = (cheaper and safe) or rescue
            self.windows_beaten = self.windows_beaten + 1 if won else 0
            if self.windows_beaten < cfg.windows:
                return None
            self.phase = ACTIVE
            self._start_acting()
            return Transition(
                ACTIVE,
                "BaselineBeaten",
                f"the learner's shadow reward beat the HPA baseline in {self.windows_beaten} "
                f"consecutive windows of {n} decisions (last window {learner:.3f} vs "
                f"{baseline:.3f})",
            )
        if (
            limit is not None
            and mine > max(limit, theirs) * (1.0 + cfg.demotion_margin)
            and self.learner_longrun > limit * (1.0 + self.longrun_margin)
        ):
            self.phase = LEARNING
            self.windows_beaten = 0
            return Transition(
                LEARNING,
                "FellBehindBaseline",
                f"the learner's violations ({mine:.2%} of steps, rolling; "
                f"{self.learner_longrun:.2%} in the long run) went over the SLO budget "
                f"{limit:.2%} and the HPA baseline's {theirs:.2%}; the baseline acts again while "
                "the learner keeps learning",
            )
        if self.acting:
            return self._hand_back()
        learner, baseline = self.learner_rolling, self.baseline_rolling
        if not rescue and learner < baseline - cfg.demotion_margin * abs(baseline):
            self.phase = LEARNING
            self.windows_beaten = 0
            return Transition(
                LEARNING,
                "FellBehindBaseline",
                f"the learner's rolling reward {learner:.3f} fell behind the HPA baseline's "
                f"{baseline:.3f} by more than {cfg.demotion_margin:.0%} (rolling over "
                f"{self._memory} decisions); the baseline acts again while the learner keeps "
                "learning",
            )
        return None


_RATES = (
    "learner_violations", "baseline_violations", "baseline_longrun", "real_violations",
    "shadow_violations",
)  # fmt: skip
_OPTIONAL = ("learner_mean", "baseline_mean", "learner_rolling", "baseline_rolling")


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number: {value!r}")
    return float(value)


def _number(saved: dict[str, Any], name: str, low: float, high: float) -> float:
    value = _finite(saved.get(name), name)
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside [{low}, {high}]")
    return value


def _optional(saved: dict[str, Any], name: str) -> float | None:
    value = saved.get(name)
    return None if value is None else _finite(value, name)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not a count: {value!r}")
    return value

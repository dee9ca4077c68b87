"""The per-policy Q-learner: decides behind the HPA baseline and a shield, learns from every action.

Modules it is made of (all pure, numpy and stdlib only):
- `forecast`: the per-policy forecaster of the peak load over the horizon and its error model.
- `state`: the discrete state (forecast rise, volatility, pending replicas, position, time of day).
- `actions`: headroom levels over the forecast, with hysteresis for scale-down.
- `shield`: vetoes unsafe scale-downs and holds during a breach; caps targets at the limits.
- `reward`: replica cost, SLO violations and churn over one startup horizon.
- `qtable`: Q-values, the update rule and the file format (`QTableError` for bad blobs).
- `promotion`: Learning → Active after beating the baseline, back when falling behind.

Use, once per evaluation of a policy (the operator's workflow and the simulator alike):

    baseline = hpa.HPABaseline(hpa.HPAConfig.from_spec(spec.scaling))
    learner = QLearner(LearnerConfig.from_spec(spec), numpy.random.default_rng(seed))
    ...
    rec = baseline.recommend(obs)           # the HPA formula, always computed
    choice = learner.decide(obs, rec)       # Learning: the baseline acts; Active: the learner
    # set the target to choice.replicas; if that changed it: baseline.record_scale(obs.time, ...)
    result = learner.learn(obs)             # judges the decisions whose horizon has passed

The price of a violation λ (the weight of the SLO part of the reward) is not a constant: after
every judged decision, log λ += `price_gain` × (v − α), where v is the violation the policy saw
(its own while Active, its preferred action's counterfactual one while Learning) and α =
`violation_aim` (`budget_share` × `slo_budget`, a little less where evaluations miss samples).
The long-run violation rate is driven to α on any workload
(adaptive conformal inference's update, on the price instead of a quantile); training data only
picks where λ starts. The Q-values are kept per reward part, so a new λ needs no relearning.

Coverage. Only one action is carried out per decision, yet every decision updates the Q-values of
*all* actions of its state: the load in target units is `utilization × ready replicas` and does
not depend on the replica count (the assumption: load is exogenous and each ready replica serves
one target's worth), so the utilization any other replica count would have produced is
`load ÷ that count`, and its reward and next state follow. A decision is judged once one startup
horizon (`horizon_seconds`) has passed, with the observations in between (`reward.score`).
Exploration is therefore not needed to learn the value of actions: while Learning the HPA
formula acts unperturbed; when Active, ε-greedy picks, with probability ε, a random
shield-approved action next to the greedy one (one level up or down, or hold), which varies the
states visited without gambling. `tests/unit/scaling/test_learner.py` shows that a learner that
never acted ranks all its actions.

Replays: `decide` and `learn` for an observation time not after the last one change no counters
and no Q-value (an evaluation re-run after a crash is a no-op for learning).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np

from nimbusguard.scaling import (
    actions as actions_mod,
    cooldowns,
    forecast as forecast_mod,
    hpa,
    promotion,
    qtable,
    reward,
    shadow as shadow_mod,
    shield,
    state,
)
from nimbusguard.scaling.observation import Observation, Recommendation
from nimbusguard.scaling.reward import RewardWeights

Mode = Literal["baseline", "explore", "exploit"]
Acting = Literal["baseline", "learner"]
_SLACK = 1e-6  # seconds of float noise tolerated in observation times
# A decision's horizon counts as reached by an observation this share of an evaluation interval
# short of it. The operator's evaluations come up to 5 % of their interval early (they are
# pulled toward each policy's place, controllers/reconciler.PLACE_PULL); an observation a
# moment early left its decision to the next one, which then judged two at once, and learning
# came in bursts of two (the e2e crash test saw the table two updates behind its status).
ON_TIME_SHARE = 0.05
_MAX_OPEN = 256  # decisions waiting to be judged; more means learn() is not being called
CHURN_SECONDS = 15.0  # the evaluation interval the reward's churn weight is set for


@dataclasses.dataclass(frozen=True, slots=True)
class LearnerConfig:
    """Everything the learner needs; `from_spec` reads it from a ScalingPolicy's spec.

    The Q-learning parameters and `promotion` come from `spec.aiConfig`; the rest has no API
    field yet: `horizon_seconds` is how long a decision takes to show its effect (the pods'
    startup time, 60 s by default), `reward` holds the weights and the SLO threshold as a ratio
    to the target, `prior_visits` is the table's shrinkage (see `qtable`), and
    `confidence_temperature` sets how Q-value gaps map to confidence.
    """

    min_replicas: int = 1
    max_replicas: int = 10
    learning_rate: float = 0.02
    discount_factor: float = 0.9
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_decisions: int = 1000
    promotion: promotion.PromotionConfig = dataclasses.field(
        default_factory=promotion.PromotionConfig
    )
    reward: reward.RewardWeights = dataclasses.field(default_factory=reward.RewardWeights)
    state: state.StateSpace = dataclasses.field(default_factory=state.StateSpace)
    actions: actions_mod.ActionSet = dataclasses.field(default_factory=actions_mod.ActionSet)
    horizon_seconds: float = 60.0
    prior_visits: float = 500.0
    confidence_temperature: float = 0.05
    interval_seconds: float = 15.0
    slo_budget: float = 0.01
    budget_share: float = 0.8
    unseen_margin: float = 0.2
    price_gain: float = 0.05
    slo_sample_seconds: float = 15.0
    shift_sigmas: float = 4.0
    shift_seconds: float = 30.0
    shift_min_interval_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.learning_rate <= 1 or not 0 <= self.discount_factor < 1:
            raise ValueError("need 0 < learning_rate <= 1 and 0 <= discount_factor < 1")
        if not 0 <= self.epsilon_end <= self.epsilon_start <= 1:
            raise ValueError("need 0 <= epsilon_end <= epsilon_start <= 1")
        if self.epsilon_decay_decisions < 1 or self.horizon_seconds < 0:
            raise ValueError("epsilon_decay_decisions must be >= 1, horizon_seconds >= 0")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")
        if self.confidence_temperature <= 0 or self.prior_visits < 0:
            raise ValueError("confidence_temperature must be > 0, prior_visits >= 0")
        if not 0 < self.slo_budget < 1 or not 0 < self.budget_share <= 1:
            raise ValueError("need 0 < slo_budget < 1 and 0 < budget_share <= 1")
        if not 0 <= self.unseen_margin < self.budget_share:
            raise ValueError("need 0 <= unseen_margin < budget_share")
        if self.price_gain < 0 or self.interval_seconds <= 0 or self.slo_sample_seconds <= 0:
            raise ValueError("need price_gain >= 0, interval_seconds > 0, slo_sample_seconds > 0")
        if self.shift_min_interval_seconds < 0:
            raise ValueError("shift_min_interval_seconds must be >= 0")

    @property
    def forecast(self) -> forecast_mod.ForecastConfig:
        """The forecaster's settings: the horizon a decision covers is the startup time plus
        one evaluation interval (until the next decision can change it). Level shifts re-anchor
        the levels only when the policy evaluates every `shift_min_interval_seconds` or less
        often: at 15 s the next evaluation follows a step within 15 s, and re-anchoring there
        cost more on Alibaba's short spikes than it saved (`docs/learning.md`)."""
        return forecast_mod.ForecastConfig(
            horizon_seconds=self.horizon_seconds + self.interval_seconds,
            shift_sigmas=(
                self.shift_sigmas
                if self.interval_seconds >= self.shift_min_interval_seconds - 1e-9
                else 0.0
            ),
            shift_seconds=self.shift_seconds,
        )

    @property
    def unseen(self) -> float:
        """The share of the SLO's samples (every `slo_sample_seconds`, a metric's scrape
        interval) that fall between two evaluations, where no evaluation sees them: 0 when the
        policy evaluates at every sample, ½ with the API's 30 s interval and 15 s samples."""
        return max(0.0, 1.0 - self.slo_sample_seconds / self.interval_seconds)

    @property
    def violation_aim(self) -> float:
        """α, the violation rate the budget controller drives towards: `budget_share` of the
        budget, less `unseen_margin` × the share of the SLO's samples no evaluation sees (0.8
        of it with an evaluation at every sample, 0.7 with the API's 30 s). Those samples are
        charged from an estimate and the cooldowns hold the learner's corrections, so the
        controller overshoots more: with 0.8 the API loop's drift test ended at 1.03 %."""
        return (self.budget_share - self.unseen_margin * self.unseen) * self.slo_budget

    @property
    def scoring(self) -> RewardWeights:
        """The reward's weights as decisions are scored: `reward`, with the churn weight held
        to the replica cost of one evaluation interval. A decision's replica cost covers the
        interval until the next one, so at the API's 30 s a change weighed 0.1 counted twice as
        much against the replicas as at the 15 s the weight was set for (`CHURN_SECONDS`); it
        is scaled by `CHURN_SECONDS` ÷ `interval_seconds` there, and left as it is at shorter
        intervals, where it was never measured."""
        scale = min(1.0, CHURN_SECONDS / self.interval_seconds)
        return dataclasses.replace(self.reward, churn=self.reward.churn * scale)

    @classmethod
    def from_spec(cls, spec: PolicySpecLike, **overrides: Any) -> LearnerConfig:
        """Build from a ScalingPolicy spec (`scaling` and `ai_config`), then apply `overrides`."""
        ql, pr = spec.ai_config.q_learning, spec.ai_config.promotion
        config = cls(
            min_replicas=spec.scaling.min_replicas,
            max_replicas=spec.scaling.max_replicas,
            learning_rate=ql.learning_rate,
            discount_factor=ql.discount_factor,
            epsilon_start=ql.epsilon_start,
            epsilon_end=ql.epsilon_end,
            epsilon_decay_decisions=ql.epsilon_decay_decisions,
            promotion=promotion.PromotionConfig(
                windows=pr.windows,
                window_decisions=pr.window_decisions,
                demotion_margin=pr.demotion_margin,
            ),
        )
        return dataclasses.replace(config, **overrides)

    def layout(self) -> dict[str, Any]:
        """What a Q-table must have been made for to be loaded by this configuration."""
        space = self.state
        return {
            "shape": list(space.shape),
            "rise_edges": list(space.rise_edges),
            "sigma_edges": list(space.sigma_edges),
            "time_of_day_bins": space.time_of_day_bins,
            "levels": list(self.actions.levels),
            "band": self.actions.band,
            "actions": self.actions.size,
            "parts": 2,
            "forecast": self.forecast.layout(),
        }


class QLearningSpecLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.QLearningSpec` read here."""

    @property
    def learning_rate(self) -> float: ...
    @property
    def discount_factor(self) -> float: ...
    @property
    def epsilon_start(self) -> float: ...
    @property
    def epsilon_end(self) -> float: ...
    @property
    def epsilon_decay_decisions(self) -> int: ...


class PromotionSpecLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.PromotionSpec` read here."""

    @property
    def windows(self) -> int: ...
    @property
    def window_decisions(self) -> int: ...
    @property
    def demotion_margin(self) -> float: ...


class AIConfigLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.AIConfig` read here."""

    @property
    def q_learning(self) -> QLearningSpecLike: ...
    @property
    def promotion(self) -> PromotionSpecLike: ...


class BoundsLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.ScalingSpec` read here."""

    @property
    def min_replicas(self) -> int: ...
    @property
    def max_replicas(self) -> int: ...


class PolicySpecLike(Protocol):
    """The fields of `api.v1.scalingpolicy_types.ScalingPolicySpec` read here."""

    @property
    def scaling(self) -> BoundsLike: ...
    @property
    def ai_config(self) -> AIConfigLike: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """One decision and everything needed to explain it.

    - `replicas`: what to set the target to; `from_replicas`: what it had.
    - `action`: index of the learner's action carried out, or None when the baseline acted;
      `learner_action`: the learner's preferred (greedy, shield-approved) action either way.
    - `mode`: baseline (HPA formula acted), explore or exploit (the learner acted).
    - `confidence` in [0, 1]: the softmax probability (temperature
      `LearnerConfig.confidence_temperature`) of the chosen action among the shield-approved
      actions' Q-values; 1.0 when the baseline acted (a rule is certain of itself).
    - `q_value` / `next_best_q`: Q of the learner's action and of the best other approved one.
    - `forecast`: the forecast peak over the horizon and its σ; `price`: λ, the price of a
      violation now; `risk`: the chance the replicas chosen by the learner are short of the
      peak, by the forecast.
    - `notes`: the shield's vetoes and caps; `state`: the state in words; `reasoning`: the
      sentence for status.lastDecision and the Event (all three formatted when read).
    """

    decision_id: int
    time: float
    replicas: int
    from_replicas: int
    action: int | None
    learner_action: int
    learner_replicas: int
    mode: Mode
    confidence: float
    q_value: float
    next_best_q: float | None
    baseline: Recommendation
    epsilon: float
    # Kept raw and formatted on demand: most decisions are never explained to anyone.
    shown_action: int
    shield_notes: tuple[tuple[int, str], ...]
    features: state.Features
    space: state.StateSpace
    action_set: actions_mod.ActionSet
    forecast: forecast_mod.Forecast
    price: float
    slo_ratio: float

    @property
    def risk(self) -> float:
        """P(the forecast peak exceeds what the learner's replicas serve within the SLO)."""
        return self.forecast.risk(self.learner_replicas, self.slo_ratio)

    @property
    def outlook(self) -> str:
        """The forecast, the headroom and the price in words."""
        fc = self.forecast
        period = f", period {fc.period_minutes} min" if fc.period_minutes else ""
        return (
            f"forecast {fc.load:.1f} ± {fc.spread:.1f} replicas' load over "
            f"{fc.horizon_seconds:.0f} s{period}; {self.action_name} → "
            f"{self.learner_replicas} replicas, risk {self.risk:.1%}, price λ {self.price:.3g}"
        )

    @property
    def action_name(self) -> str:
        """Name of the action carried out, or of the learner's preference if the baseline acted."""
        return self.action_set.name(self.shown_action)

    @property
    def notes(self) -> tuple[str, ...]:
        """The shield's vetoes and caps, as phrases."""
        return tuple(f"'{self.action_set.name(a)}' {why}" for a, why in self.shield_notes)

    @property
    def state(self) -> str:
        """The state in words."""
        return self.space.describe(self.features)

    @property
    def direction(self) -> Literal["scale_up", "scale_down", "hold"]:
        """scale_up, scale_down or hold (status.lastDecision.action)."""
        if self.replicas > self.from_replicas:
            return "scale_up"
        if self.replicas < self.from_replicas:
            return "scale_down"
        return "hold"

    @property
    def reasoning(self) -> str:
        """One sentence: state, Q of the chosen action vs the next best, explored or exploited,
        the shield's vetoes, and what the HPA formula recommended."""
        versus = "" if self.next_best_q is None else f" vs {self.next_best_q:.2f} for the next best"
        shield_part = ""
        if self.notes:
            shield_part = f"; shield: {'; '.join(self.notes[:2])}"
            if len(self.notes) > 2:
                shield_part += f" (+{len(self.notes) - 2} more)"
        hpa_part = f"the HPA formula recommended {self.baseline.replicas} ({self.baseline.reason})"
        if self.mode == "baseline":
            return (
                f"{self.outlook}; learning, so the HPA formula acted: {self.from_replicas} → "
                f"{self.replicas} ({self.baseline.reason}); the learner would keep "
                f"{self.action_name} → {self.learner_replicas} ({self.state}, Q "
                f"{self.q_value:.2f}{versus}){shield_part}"
            )
        verb = "explored" if self.mode == "explore" else "exploited"
        return (
            f"{self.outlook}; {verb} '{self.action_name}' → {self.replicas} replicas "
            f"({self.state}, Q {self.q_value:.2f}{versus}, confidence {self.confidence:.2f})"
            f"{shield_part}; {hpa_part}"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LearnResult:
    """What judging one decision produced (the last one, if several matured at once).

    `reward` is what the replicas actually in effect earned; `learner_reward` and
    `baseline_reward` are the shadow rewards of the learner's preferred action and the HPA's
    recommendation for the same decision; `regret` is baseline_reward − reward.
    """

    decision_id: int
    reward: float
    learner_reward: float
    baseline_reward: float
    judged: int
    transition: promotion.Transition | None

    @property
    def regret(self) -> float:
        """How much worse than the baseline the carried-out decision was (negative: better)."""
        return self.baseline_reward - self.reward


@dataclasses.dataclass(frozen=True, slots=True)
class Judgement:
    """One decision scored once its horizon passed: the reward terms of every candidate and
    the state each action would have led to (what the Q-update needs)."""

    decision_id: int
    state: int
    outcome: reward.Outcome
    next_states: list[int]
    violated: float = 0.0  # share of the observations after it that were in violation


@dataclasses.dataclass(slots=True)
class _Open:
    """A decision waiting for its horizon."""

    decision_id: int
    time: float
    state: int
    replicas: int
    ready: int
    reference: float
    targets: list[int]
    learner_replicas: int
    baseline_replicas: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Point:
    """One observation after a decision."""

    time: float
    load: float
    ready: int
    replicas: int
    ready_before: int  # what served through the interval before it (arrivals at it excluded)
    rise: float
    sigma: float
    time_of_day: float | None


class QLearner:
    """One policy's learner (module docstring). Not thread-safe; one per policy, never shared."""

    def __init__(
        self,
        config: LearnerConfig,
        rng: np.random.Generator,
        snapshot: qtable.Snapshot | None = None,
    ) -> None:
        self.config = config
        self._rng = rng
        space, acts = config.state, config.actions
        self.table = qtable.QTable(space.size, acts.size, 2, config.prior_visits)
        self.decisions = 0
        self.updates = 0
        self.slo_price = config.reward.slo
        phase, beaten = promotion.LEARNING, 0
        if snapshot is not None:
            self.table.load(snapshot.q, snapshot.visits)
            self.decisions, self.updates = snapshot.decisions, snapshot.updates
            phase, beaten = snapshot.phase, snapshot.windows_beaten
            if snapshot.slo_price is not None:
                self.slo_price = snapshot.slo_price
        self._weights = np.array([1.0, self.slo_price])
        # Where evaluations miss samples, the long-run rates are estimates that over-count at
        # upward steps: "over the budget" then needs the margin (`promotion` docstring).
        estimated = config.promotion.demotion_margin if config.unseen > 0 else 0.0
        self.promotion = promotion.PromotionTracker(
            config.promotion, phase, beaten, config.violation_aim, config.slo_budget,
            longrun_margin=estimated,
        )  # fmt: skip
        self.mode_counts: dict[str, int] = {"baseline": 0, "explore": 0, "exploit": 0}
        self.shield_interventions = 0
        self.forecaster = forecast_mod.Forecaster(config.forecast)
        if snapshot is not None and snapshot.forecaster is not None:
            self.forecaster.restore(snapshot.forecaster_arrays, snapshot.forecaster)
        self._tracker = state.DemandTracker(space)
        self._scoring = config.scoring  # the reward's weights at this interval
        # The policy's real violated share (every evaluation, whoever acted): the mean since
        # the start, then an EWMA over 8,000 evaluations (a day and more). What the budget is
        # spent on, for the budget controller's aim; a 2,000-evaluation EWMA forgot an HPA's
        # overspending within hours, and the drift trace ended over the budget.
        self.realized_violations = 0.0
        self._realized_count = 0
        self.shadow: shadow_mod.ShadowHPA | None = None
        self._shadow_violation: float | None = None
        self._saved_shadow: dict[str, Any] | None = None  # a restored trajectory, until resumed
        # What a loaded snapshot could not give back (started fresh), for QTableLoaded; None
        # when it gave everything back or there was none.
        self.fresh_note: str | None = None
        if snapshot is not None:
            self._restore_record(snapshot)
        self._last_forecast: forecast_mod.Forecast | None = None
        # Lists, not deques: a horizon's worth of entries, and an empty deque is a 64-slot
        # block (docs/scaling.md, "Long window").
        self._open: list[_Open] = []
        self._points: list[_Point] = []
        self._last_decision_time = -math.inf
        self._last_learn_time = -math.inf
        self._prev_ready: int | None = None

    # -- persistence ---------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """What the learner measured besides the table, price and forecaster (the snapshot's
        `learner` record): the promotion tracker's rolling rates, rewards, bias and hand-back
        evidence, the budget controller's spent share, the reward's reference level and the
        HPA run alongside. Not kept: open decisions (judged within one horizon) and the
        previous observation (after a restart the next decisions are judged on what follows
        them, as after any gap), and the gauges (`mode_counts`, `shield_interventions`: this
        process's counts, which the operator's counters add up)."""
        reference = self._tracker
        trajectory = self.shadow.state() if self.shadow is not None else self._saved_shadow
        return {
            "promotion": self.promotion.state(),
            "budget": {"realized": self.realized_violations, "count": self._realized_count},
            "reference": {"level": reference.reference, "time": reference.time},
            "shadow": trajectory,
        }

    def _restore_record(self, snapshot: qtable.Snapshot) -> None:
        """Take over a snapshot's `learner` record; QTableError when it is not a sound one."""
        saved = snapshot.learner
        if saved is None:
            self.fresh_note = (
                f"a version-{snapshot.schema} table kept no rolling state: the rolling "
                "violation rates and rewards, the re-promotion bias, the hand-back evidence "
                "and the budget controller's spent share start fresh"
            )
            return
        try:
            self.promotion.restore(saved.get("promotion"))
            budget, reference = saved.get("budget"), saved.get("reference")
            if not isinstance(budget, dict) or not isinstance(reference, dict):
                raise ValueError("budget or reference is not an object")
            realized = budget.get("realized")
            if isinstance(realized, bool) or not isinstance(realized, int | float):
                raise ValueError(f"realized violations not a number: {realized!r}")
            if not 0.0 <= realized <= 1.0:
                raise ValueError(f"realized violations {realized} outside [0, 1]")
            count = _count(budget.get("count"))
            level, at = reference.get("level"), reference.get("time")
            if isinstance(level, bool) or not isinstance(level, int | float) or not level >= 0:
                raise ValueError(f"reference level not a number >= 0: {level!r}")
            if not math.isfinite(level) or not (at is None or _finite_time(at)):
                raise ValueError(f"reference level or time not finite: {level!r}, {at!r}")
            trajectory = saved.get("shadow")
            if trajectory is not None:
                trajectory = shadow_mod.check_state(trajectory)
        except ValueError as exc:
            raise qtable.QTableError(f"Q-table learner record invalid: {exc}") from exc
        self.realized_violations, self._realized_count = float(realized), count
        self._tracker.reference, self._tracker.time = float(level), at
        self._saved_shadow = trajectory

    def to_bytes(self) -> bytes:
        """The table, visit counts, epsilon progress, price of a violation, promotion state,
        forecaster and the learner's `record`: everything it learned and measured."""
        return qtable.to_bytes(
            qtable.Snapshot(
                q=self.table.q,
                visits=self.table.visits.astype(np.int64),
                layout=self.config.layout(),
                decisions=self.decisions,
                updates=self.updates,
                phase=self.promotion.phase,
                windows_beaten=self.promotion.windows_beaten,
                slo_price=self.slo_price,
                forecaster=self.forecaster.scalars(),
                forecaster_arrays=self.forecaster.arrays(),
                learner=self.record(),
            )
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        config: LearnerConfig,
        rng: np.random.Generator,
        *,
        warm_start: bool = False,
        carry_promotion: bool = False,
    ) -> QLearner:
        """Restore a learner saved by `to_bytes`; raises `qtable.QTableError` for a bad blob.

        `warm_start=True` (a table trained elsewhere, e.g. by `nimbusguard train`) keeps the
        Q-values, epsilon progress, price and forecaster, and starts in Learning, so the policy
        must beat the HPA baseline on this workload before it acts; with `carry_promotion` a
        table saved Active starts Active (`warmStart.carryPromotion`). The learner's record
        (`record`) is not taken over: its rates, evidence and spent budget were measured on
        the workload the table was trained on, and this policy's SLO budget and HPA are its
        own; `fresh_note` says so.
        """
        snapshot = qtable.from_bytes(data, config.layout())
        if warm_start and not carry_promotion:
            snapshot.phase, snapshot.windows_beaten = promotion.LEARNING, 0
        record = snapshot.learner
        if warm_start:
            snapshot.learner = None  # measured on the workload it was trained on (docstring)
        brain = cls(config, rng, snapshot)
        if warm_start:
            brain.fresh_note = (
                "the record of the workload the table was trained on (rolling violation rates "
                "and rewards, re-promotion bias, hand-back evidence, budget spent) is not this "
                "policy's: it starts fresh here"
                if record is not None
                else brain.fresh_note
            )
        return brain

    def forget_episode(self) -> None:
        """Drop the load history and open decisions (a new trace starts; the table stays)."""
        self._tracker = state.DemandTracker(self.config.state)
        self.forecaster.reset_episode()
        self._open.clear()
        self._points.clear()
        self._last_decision_time = self._last_learn_time = -math.inf
        self._prev_ready = None
        self.shadow = self._saved_shadow = None

    def set_slo_price(self, price: float) -> None:
        """Change λ, the price of a violation; no relearning is needed (see `qtable`).
        `nimbusguard train` calibrates it on the training trace."""
        if not price > 0 or not math.isfinite(price):
            raise ValueError(f"slo price must be positive and finite, got {price}")
        self.slo_price = price
        self._weights[1] = price

    # -- gauges --------------------------------------------------------------------------------

    @property
    def epsilon(self) -> float:
        """Exploration rate now: linear from epsilon_start to epsilon_end over the decay horizon."""
        cfg = self.config
        done = min(1.0, self.decisions / cfg.epsilon_decay_decisions)
        return cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * done

    @property
    def phase(self) -> str:
        """Learning (the baseline acts) or Active (the learner acts)."""
        return self.promotion.phase

    @property
    def aim(self) -> float:
        """The violation rate the budget controller drives towards now: `violation_aim`, lowered
        by what the policy has spent over the budget (whoever acted: an HPA that broke it before
        the learner took over, evaluations the cooldown held), down to a quarter of it. A budget
        is a long-run share, so what was overspent is paid back, not forgotten."""
        cfg = self.config
        over = max(0.0, self.realized_violations - cfg.slo_budget)
        return max(cfg.violation_aim / 4.0, cfg.violation_aim - over)

    @property
    def states_visited(self) -> int:
        """Distinct states with at least one update."""
        return self.table.states_visited

    # -- the policy's HPA alongside (shadow) ----------------------------------------------------

    def prepare_shadow(
        self, baseline: hpa.HPABaseline, obs: Observation, last_scaling_time: float | None
    ) -> None:
        """Before an evaluation's HPA recommendation: start the policy's HPA alongside when
        the learner acts (a copy of `baseline` as it is now, on the replicas the target has),
        drop it when the HPA acts (`shadow`)."""
        if self.promotion.phase != promotion.ACTIVE:
            self.shadow, self._shadow_violation, self._saved_shadow = None, None, None
        elif self.shadow is None:
            self.shadow = shadow_mod.ShadowHPA(
                baseline, obs, last_scaling_time, self.config.horizon_seconds
            )
            if self._saved_shadow is not None:  # restored: its own trajectory continues
                self.shadow.resume(self._saved_shadow)
                self._saved_shadow = None

    def follow_shadow(
        self, obs: Observation, cooldown: cooldowns.CooldownSpec, replicas: int
    ) -> None:
        """After an evaluation set `replicas`: step the HPA alongside on the same load and
        record both for promotion (what really happened against the HPA's own trajectory)."""
        if self.shadow is None:
            return
        cfg = self.config
        step = self.shadow.step(obs, cooldown, cfg.reward.slo_ratio, cfg.unseen)
        if step is None:
            return
        real = shadow_mod.interval_violation(
            obs.demand, obs.ready_replicas, self._ready_before(obs), cfg.reward.slo_ratio,
            cfg.unseen,
        )  # fmt: skip
        self._shadow_violation = step.violation
        self.promotion.record_acting(replicas, step.replicas, real, step.violation)

    def _ready_before(self, obs: Observation) -> int:
        """What served through the interval before `obs`: replicas that arrived at `obs` did
        not, replicas removed at the last evaluation did not either."""
        if self._prev_ready is None:
            return obs.ready_replicas
        return min(self._prev_ready, obs.ready_replicas)

    # -- decide --------------------------------------------------------------------------------

    def decide(
        self, obs: Observation, baseline: Recommendation, acting: Acting | None = None
    ) -> Choice:
        """Choose the replicas for `obs` (see `Choice`). `acting` defaults to the phase:
        "baseline" while Learning, "learner" when Active."""
        cfg = self.config
        if acting is None:
            acting = "learner" if self.promotion.phase == promotion.ACTIVE else "baseline"
        load = obs.demand
        self._tracker.update(obs.time, load)
        fc = self.forecaster.observe(obs.time, load)
        self._last_forecast = fc
        features = state.Features(
            rise=fc.load / max(load, 1e-6),
            sigma=fc.sigma,
            pending=obs.pending > 0,
            position=state.position(obs.replicas, cfg.min_replicas, cfg.max_replicas),
            time_of_day=obs.time_of_day,
        )
        s = cfg.state.index(features)
        slo_ratio = cfg.reward.slo_ratio
        raw = cfg.actions.targets(fc, obs.replicas, slo_ratio)
        verdict = shield.check(
            raw,
            obs.replicas,
            load,
            obs.utilization,
            baseline.lowest_allowed,
            baseline.highest_allowed,
            slo_ratio,
        )
        q = self.table.values(s, self._weights).tolist()
        allowed = [a for a, ok in enumerate(verdict.approved) if ok]
        greedy = max(allowed, key=q.__getitem__)  # ties keep the lowest index: hold first
        epsilon = self.epsilon
        mode: Mode
        if acting == "baseline":
            mode, action, chosen, replicas = "baseline", None, greedy, baseline.replicas
        else:
            near = [a for a in allowed if abs(a - greedy) == 1]
            if near and self._rng.random() < epsilon:
                mode, chosen = "explore", near[int(self._rng.integers(len(near)))]
            else:
                mode, chosen = "exploit", greedy
            action, replicas = chosen, verdict.targets[chosen]
        if obs.time > self._last_decision_time + _SLACK:
            self._last_decision_time = obs.time
            self.decisions += 1
            self.mode_counts[mode] += 1
            unshielded = max(range(len(q)), key=q.__getitem__)
            if unshielded != greedy or raw[greedy] != verdict.targets[greedy]:
                self.shield_interventions += 1
        self._record(obs, s, verdict.targets, greedy, baseline.replicas)
        others = [q[a] for a in allowed if a != chosen]
        return Choice(
            decision_id=self.decisions,
            time=obs.time,
            replicas=replicas,
            from_replicas=obs.replicas,
            action=action,
            learner_action=greedy,
            learner_replicas=verdict.targets[greedy],
            mode=mode,
            confidence=1.0 if mode == "baseline" else self._confidence(q, allowed, chosen),
            q_value=q[chosen],
            next_best_q=max(others) if others else None,
            baseline=baseline,
            epsilon=epsilon,
            shown_action=chosen,
            shield_notes=tuple(verdict.notes),
            features=features,
            space=cfg.state,
            action_set=cfg.actions,
            forecast=fc,
            price=self.slo_price,
            slo_ratio=slo_ratio,
        )

    def _record(
        self,
        obs: Observation,
        s: int,
        targets: list[int],
        greedy: int,
        baseline_replicas: int,
    ) -> None:
        if self._open and self._open[-1].time >= obs.time - _SLACK:
            self._open.pop()  # a re-run evaluation replaces its first decision
        self._open.append(
            _Open(
                decision_id=self.decisions,
                time=obs.time,
                state=s,
                replicas=obs.replicas,
                ready=obs.ready_replicas,
                reference=self._tracker.reference,
                targets=targets,
                learner_replicas=targets[greedy],
                baseline_replicas=baseline_replicas,
            )
        )
        del self._open[:-_MAX_OPEN]

    def _confidence(self, q: list[float], allowed: list[int], chosen: int) -> float:
        tau = self.config.confidence_temperature
        best = max(q[a] for a in allowed)
        total = sum(math.exp((q[a] - best) / tau) for a in allowed)
        return math.exp((q[chosen] - best) / tau) / total

    # -- learn ---------------------------------------------------------------------------------

    def learn(self, obs: Observation) -> LearnResult | None:
        """Record `obs` and judge every open decision whose horizon it reaches; returns the
        last judgement, or None when none matured (or `obs` is a replay). The same as
        `apply(judge(obs))`, for callers that need nothing in between."""
        return self.apply(self.judge(obs))

    def judge(self, obs: Observation) -> list[Judgement]:
        """Record `obs` and score every open decision whose horizon it reaches: the reward of
        every candidate replica count, and the state each action leads to (the workflow's
        reward step). Changes no Q-value; a replayed observation scores nothing."""
        if obs.time <= self._last_learn_time + _SLACK:
            return []
        self._last_learn_time = obs.time
        load = obs.demand
        self._tracker.update(obs.time, load)
        fc = self._last_forecast
        if fc is None or self.forecaster.time is None or self.forecaster.time < obs.time - _SLACK:
            fc = self.forecaster.observe(obs.time, load)  # judged without a decision first
            self._last_forecast = fc
        before = self._ready_before(obs)
        self._prev_ready = obs.ready_replicas
        real = shadow_mod.interval_violation(
            load, obs.ready_replicas, before, self.config.reward.slo_ratio, self.config.unseen
        )
        self._realized_count += 1
        weight = max(1.0 / self._realized_count, 1.0 / 8000.0)
        self.realized_violations += weight * (real - self.realized_violations)
        self._points.append(
            _Point(
                obs.time,
                load,
                obs.ready_replicas,
                obs.replicas,
                before,
                fc.load / max(load, 1e-6),
                fc.sigma,
                obs.time_of_day,
            )
        )
        judgements: list[Judgement] = []
        horizon = self.config.horizon_seconds
        on_time = max(_SLACK, ON_TIME_SHARE * self.config.interval_seconds)
        judged = 0
        for decision in self._open:
            if decision.time >= obs.time - _SLACK or decision.time + horizon > obs.time + on_time:
                break
            judgements.append(self._score(decision))
            judged += 1
        del self._open[:judged]
        # Keep only the observations an open decision still needs (those after its time).
        cutoff = self._open[0].time if self._open else obs.time
        used = 0
        while used < len(self._points) and self._points[used].time <= cutoff + _SLACK:
            used += 1
        del self._points[:used]
        return judgements

    def apply(self, judgements: Sequence[Judgement]) -> LearnResult | None:
        """Learn from scored decisions: a Q-update of every action and the promotion windows
        (the workflow's learn step). Returns the last result, or None without judgements."""
        result: LearnResult | None = None
        for judged, judgement in enumerate(judgements, start=1):
            result = self._update(judgement, judged)
        return result

    def _score(self, decision: _Open) -> Judgement:
        cfg = self.config
        points = [p for p in self._points if p.time > decision.time + _SLACK]
        path = reward.Path(
            demands=[p.load for p in points],
            ready=[p.ready for p in points],
            ready_at_decision=decision.ready,
            replicas_at_decision=decision.replicas,
            reference=decision.reference,
        )
        executed = points[0].replicas  # what the target really had after the decision
        candidates = [
            *decision.targets,
            decision.learner_replicas,
            decision.baseline_replicas,
            executed,
        ]
        outcome = reward.score(self._scoring, path, candidates)
        final = points[-1]
        index_of = cfg.state.index_of
        lo, hi = cfg.min_replicas, cfg.max_replicas
        next_states = [
            index_of(final.rise, final.sigma, False, state.position(r, lo, hi), final.time_of_day)
            for r in decision.targets
        ]
        limit, unseen = cfg.reward.slo_ratio, cfg.unseen
        seen = [
            shadow_mod.interval_violation(p.load, p.ready, p.ready_before, limit, unseen)
            for p in points
        ]
        violated = sum(seen) / len(seen)
        return Judgement(decision.decision_id, decision.state, outcome, next_states, violated)

    def _update(self, judgement: Judgement, judged: int) -> LearnResult:
        cfg = self.config
        n_actions = cfg.actions.size
        outcome = judgement.outcome
        rewards = [(-c, -v) for c, v in zip(outcome.cost, outcome.slo[:n_actions], strict=False)]
        self.table.update_all(
            judgement.state,
            rewards,
            judgement.next_states,
            (1.0, self.slo_price),
            cfg.learning_rate,
            cfg.discount_factor,
        )
        self.updates += 1
        active = self.promotion.phase == promotion.ACTIVE
        # The budget controller (module docstring): λ prices the learner's own behaviour, so it
        # follows the violations the policy really had while the learner acts, and those its
        # preferred action would have had while the HPA acts. (Following the HPA's violations
        # while Learning runs away: an HPA tuned to spend the whole budget drives λ up without
        # end, and the learner, never acting, cannot bring it back.)
        seen = judgement.violated if active else outcome.breach[n_actions]
        if cfg.price_gain > 0:
            step = cfg.price_gain * (seen - self.aim)
            self.set_slo_price(min(1e6, max(1e-3, self.slo_price * math.exp(step))))
        price = self.slo_price
        learner_r = outcome.reward(n_actions, price)
        baseline_r = outcome.reward(n_actions + 1, price)
        executed_r = outcome.reward(n_actions + 2, price)
        # Promotion compares cost at equal violations (`promotion`): the replica cost per
        # window, the violations as long-run rates.
        # The baseline's violations: what really happened while it acts, and what its own
        # trajectory (the shadow HPA) had while the learner acts.
        cost = outcome.cost
        if not active:
            baseline_seen = judgement.violated
        elif self._shadow_violation is not None:
            baseline_seen = self._shadow_violation
        else:
            baseline_seen = outcome.breach[n_actions + 1]
        mine = -cost[n_actions + 2] if active else -cost[n_actions]
        transition = self.promotion.record(
            mine, -cost[n_actions + 1], seen, baseline_seen, estimate=-cost[n_actions]
        )
        return LearnResult(
            judgement.decision_id, executed_r, learner_r, baseline_r, judged, transition
        )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _finite_time(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)

"""The learner: coverage without acting, replays, explanations, promotion and persistence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from api.v1 import scalingpolicy_types as types
from nimbusguard.scaling import actions, hpa, learner, promotion, qtable
from nimbusguard.scaling.observation import Observation, Recommendation

STEP = 15.0


def config(**changes: object) -> learner.LearnerConfig:
    base = learner.LearnerConfig(min_replicas=1, max_replicas=40, learning_rate=0.05)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def hold_baseline(replicas: int) -> Recommendation:
    """A baseline that always recommends `replicas`, allowing 1..40."""
    return Recommendation(replicas, "fixed for the test", replicas, 1, 40)


def drive(
    brain: learner.QLearner,
    loads: list[float],
    baseline_replicas: int,
    acting: learner.Acting | None = None,
) -> list[learner.Choice]:
    """Run the operator's sequence with the target held at what the choices say; the load is
    in target units. Returns the choices."""
    replicas = baseline_replicas
    choices = []
    for i, load in enumerate(loads):
        obs = Observation(
            time=i * STEP,
            replicas=replicas,
            ready_replicas=replicas,
            utilization=load / replicas,
        )
        brain.learn(obs)
        choice = brain.decide(obs, hold_baseline(baseline_replicas), acting)
        choices.append(choice)
        replicas = choice.replicas
    return choices


def test_coverage_every_action_learns_while_only_the_baseline_acts() -> None:
    """The coverage problem, solved: the HPA baseline holds 20 replicas for a load of 10 (the
    learner never acts), yet every action's Q-value is updated and the learner ranks them:
    scaling down to run near target beats the executed, over-provisioned hold."""
    brain = learner.QLearner(config(), np.random.default_rng(0))
    choices = drive(brain, [10.0] * 400, baseline_replicas=20, acting="baseline")
    assert all(c.mode == "baseline" and c.replicas == 20 for c in choices)
    visited = brain.table.visits.any(axis=1)
    assert visited.sum() >= 1
    # All actions of the visited states were updated equally often, though one was executed.
    rows = brain.table.visits[visited]
    assert (rows == rows[:, :1]).all()
    assert rows.max() > 100
    last = choices[-1]
    assert last.learner_replicas < 20
    # An on-policy learner (updating only the executed action) would know nothing else: the
    # largest headroom (what the over-provisioned hold is closest to) ranks below its choice.
    values = brain.table.values(brain.config.state.index(last.features), brain._weights)
    assert values[last.learner_action] > values[-1]


def test_replays_are_no_ops() -> None:
    brain = learner.QLearner(config(), np.random.default_rng(0))
    drive(brain, [10.0] * 20, baseline_replicas=12)
    decisions, updates = brain.decisions, brain.updates
    q_before = brain.table.q.copy()
    obs = Observation(time=19 * STEP, replicas=12, ready_replicas=12, utilization=10 / 12)
    assert brain.learn(obs) is None  # the same time again
    brain.decide(obs, hold_baseline(12))
    assert (brain.decisions, brain.updates) == (decisions, updates)
    np.testing.assert_array_equal(brain.table.q, q_before)


def test_epsilon_decays_linearly_over_the_horizon() -> None:
    brain = learner.QLearner(
        config(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_decisions=100),
        np.random.default_rng(0),
    )
    assert brain.epsilon == pytest.approx(1.0)
    drive(brain, [10.0] * 50, baseline_replicas=12)
    assert brain.epsilon == pytest.approx(0.55)
    drive(brain, [10.0] * 60, baseline_replicas=12)  # times 0..49 again: replays count nothing
    assert brain.decisions == 60
    brain.forget_episode()  # a new pass over a trace: times start again
    drive(brain, [10.0] * 60, baseline_replicas=12)
    assert brain.decisions == 120
    assert brain.epsilon == pytest.approx(0.1)


def test_reasoning_names_forecast_headroom_price_q_values_mode_veto_and_hpa() -> None:
    brain = learner.QLearner(config(epsilon_start=0.0, epsilon_end=0.0), np.random.default_rng(0))
    drive(brain, [10.0] * 100, baseline_replicas=12)
    # Load 16 on 12 replicas (1.33× target): the SLO (1.25×) is breached, replicas must grow.
    obs = Observation(time=100 * STEP, replicas=12, ready_replicas=12, utilization=16 / 12)
    rec = hpa.HPABaseline(hpa.HPAConfig(max_replicas=40)).recommend(obs)
    choice = brain.decide(obs, rec, acting="learner")
    text = choice.reasoning
    fc = choice.forecast
    assert text.startswith(
        f"forecast {fc.load:.1f} ± {fc.spread:.1f} replicas' load over 75 s; "
        f"{choice.action_name} → {choice.learner_replicas} replicas, risk {choice.risk:.1%}, "
        f"price λ {choice.price:.3g}"
    )
    assert "exploited" in text
    assert f"Q {choice.q_value:.2f} vs {choice.next_best_q:.2f} for the next best" in text
    assert choice.learner_replicas > 12  # breached now: every approved action grows
    assert f"the HPA formula recommended {rec.replicas}" in text
    assert 0.0 <= choice.confidence <= 1.0
    baseline_choice = brain.decide(
        dataclasses.replace(obs, time=101 * STEP), rec, acting="baseline"
    )
    assert baseline_choice.confidence == 1.0
    assert "the HPA formula acted" in baseline_choice.reasoning


def test_confidence_is_the_softmax_of_approved_q_values() -> None:
    brain = learner.QLearner(config(confidence_temperature=0.5), np.random.default_rng(0))
    q = [-1.0, -2.0, -1.5]
    expected = 1.0 / (1.0 + math.exp(-2.0) + math.exp(-1.0))
    assert brain._confidence(q, [0, 1, 2], 0) == pytest.approx(expected)
    assert brain._confidence(q, [0], 0) == 1.0


def test_promoted_after_beating_an_overprovisioning_baseline_then_acts() -> None:
    cfg = config(
        epsilon_start=0.0,
        epsilon_end=0.0,
        promotion=promotion.PromotionConfig(windows=3, window_decisions=10),
    )
    brain = learner.QLearner(cfg, np.random.default_rng(0))
    transitions = []
    replicas = 30
    for i in range(200):
        obs = Observation(
            time=i * STEP, replicas=replicas, ready_replicas=replicas, utilization=10 / replicas
        )
        result = brain.learn(obs)
        if result is not None and result.transition is not None:
            transitions.append(result.transition)
        choice = brain.decide(obs, hold_baseline(30))
        replicas = choice.replicas
    assert transitions[0].reason == "BaselineBeaten"
    assert brain.phase == "Active"
    assert brain.mode_counts["exploit"] > 0
    assert replicas < 30  # the learner acted on what it learned


def test_demoted_when_its_actions_fall_behind() -> None:
    cfg = config(promotion=promotion.PromotionConfig(windows=1, window_decisions=5))
    brain = learner.QLearner(cfg, np.random.default_rng(0))
    brain.promotion.phase = "Active"
    # The target is kept at 40 replicas whatever the learner says (as if it kept choosing
    # badly) while the baseline would run 11: the learner's real reward falls behind.
    transition = None
    for i in range(40):
        obs = Observation(time=i * STEP, replicas=40, ready_replicas=40, utilization=10 / 40)
        result = brain.learn(obs)
        if result is not None and result.transition is not None:
            transition = result.transition
        brain.decide(obs, hold_baseline(11))
    assert transition is not None
    assert transition.reason == "FellBehindBaseline"
    assert brain.phase == "Learning"


def test_persistence_round_trip_and_warm_start() -> None:
    brain = learner.QLearner(config(), np.random.default_rng(0))
    drive(brain, [10.0] * 120, baseline_replicas=14)
    brain.promotion.phase = "Active"
    brain.set_slo_price(20.0)
    blob = brain.to_bytes()
    back = learner.QLearner.from_bytes(blob, config(), np.random.default_rng(1))
    np.testing.assert_array_equal(back.table.q, brain.table.q)
    assert (back.decisions, back.epsilon, back.phase, back.slo_price) == (
        brain.decisions,
        brain.epsilon,
        "Active",
        20.0,
    )
    warm = learner.QLearner.from_bytes(blob, config(), np.random.default_rng(1), warm_start=True)
    assert warm.phase == "Learning"
    other = config(actions=actions.ActionSet(levels=(0.9, 1.0)))
    with pytest.raises(qtable.QTableError, match="another state space"):
        learner.QLearner.from_bytes(blob, other, np.random.default_rng(1))


def test_from_spec_uses_the_api_values() -> None:
    spec = types.ScalingPolicySpec(
        target=types.TargetRef(name="web"),
        scaling=types.ScalingSpec(min_replicas=2, max_replicas=30),
        metrics=types.MetricsSpec(cpu=types.CpuMetric(target_utilization=70)),
        ai_config=types.AIConfig(
            q_learning=types.QLearningSpec(learning_rate=0.05, epsilon_decay_decisions=500),
            promotion=types.PromotionSpec(windows=3, demotion_margin=0.2),
        ),
    )
    cfg = learner.LearnerConfig.from_spec(spec)
    assert (cfg.min_replicas, cfg.max_replicas, cfg.learning_rate) == (2, 30, 0.05)
    assert cfg.epsilon_decay_decisions == 500
    assert (cfg.promotion.windows, cfg.promotion.window_decisions) == (3, 20)
    assert cfg.promotion.demotion_margin == 0.2
    defaults = types.QLearningSpec()
    plain = learner.LearnerConfig()
    assert (plain.learning_rate, plain.discount_factor, plain.epsilon_start) == (
        defaults.learning_rate,
        defaults.discount_factor,
        defaults.epsilon_start,
    )
    assert (plain.epsilon_end, plain.epsilon_decay_decisions) == (
        defaults.epsilon_end,
        defaults.epsilon_decay_decisions,
    )


def test_churn_is_weighed_against_the_replica_cost_of_one_interval() -> None:
    # A decision's replica cost covers one evaluation interval: at the API's 30 s a change is
    # weighed half as much as at the 15 s the weight was set for; shorter intervals keep it.
    fast, api = config(), config(interval_seconds=30.0)
    assert fast.scoring == fast.reward
    assert api.scoring.churn == pytest.approx(fast.reward.churn / 2)
    assert dataclasses.replace(api.scoring, churn=api.reward.churn) == api.reward
    assert config(interval_seconds=5.0).scoring.churn == pytest.approx(fast.reward.churn)
    # It is the weight decisions are scored with: the learner's preference (a scale-down of
    # the 10 replicas the HPA holds) costs its replicas plus the halved churn.
    brain = learner.QLearner(api, np.random.default_rng(0))
    choices: dict[int, int] = {}
    changes = 0
    for i in range(12):
        obs = Observation(time=i * 30.0, replicas=10, ready_replicas=10, utilization=0.6)
        for judged in brain.judge(obs):
            cost, preferred = judged.outcome.cost, choices[judged.decision_id]
            per_replica = cost[-2] / 10  # the HPA's 10: no change, no churn
            if preferred != 10:
                changes += 1
                assert cost[-3] - per_replica * preferred == pytest.approx(0.05)
        choice = brain.decide(obs, hold_baseline(10))
        choices[choice.decision_id] = choice.learner_replicas
    assert changes > 0


def test_an_observation_a_little_early_still_judges_its_decision() -> None:
    """The operator's evaluations come up to 5 % of their interval early; each must judge the
    decision one horizon before it, not leave it to the next (which then judged two at once)."""
    brain = learner.QLearner(config(horizon_seconds=STEP), np.random.default_rng(0))
    judged = []
    for i in range(40):
        t = i * STEP * 0.96  # every evaluation 4 % of the interval early
        obs = Observation(time=t, replicas=10, ready_replicas=10, utilization=1.0)
        judged.append(len(brain.judge(obs)))
        brain.decide(obs, hold_baseline(10))
    # Each observation judges the decision just before it (without the tolerance, one
    # interval later: a whole interval of learning more for a crash to lose).
    assert judged == [0] + [1] * 39

"""The policy's HPA alongside the learner (the shadow), interval violations, and hand-back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nimbusguard.scaling import evaluation, hpa, learner, promotion, shadow
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import loop

NO_COOLDOWN = loop.Cooldowns()


def test_interval_violation_weighs_the_unseen_part_of_the_interval() -> None:
    # 10 units of load on 9 ready now (1.11 < 1.25: fine) but 7 before the arrivals (1.43).
    assert shadow.interval_violation(10.0, 9, 7, 1.25, 0.0) == 0.0
    assert shadow.interval_violation(10.0, 9, 7, 1.25, 0.5) == 0.5
    assert shadow.interval_violation(10.0, 9, 7, 1.25, 1.0) == 1.0
    assert shadow.interval_violation(13.0, 9, 9, 1.25, 0.5) == 1.0


def test_the_shadow_runs_the_hpa_on_its_own_replicas_with_startup_and_cooldown() -> None:
    config = hpa.HPAConfig(min_replicas=1, max_replicas=40)
    start = Observation(time=0.0, replicas=10, ready_replicas=10, utilization=1.0)
    cooldown = loop.Cooldowns(0, 60, 60)
    twin = shadow.ShadowHPA(hpa.HPABaseline(config), start, None, 60.0)
    # The load doubles; the real target is at 40 replicas (the learner's), the shadow at 10.
    seen = [
        twin.step(Observation(time=t, replicas=40, ready_replicas=40, utilization=0.5), cooldown,
                  1.25, 0.5)
        for t in (15.0, 30.0, 45.0, 60.0, 75.0)
    ]  # fmt: skip
    assert [s.replicas for s in seen if s is not None] == [20, 20, 20, 20, 20]
    # 20 load on its 10 ready replicas violates until the new ones start serving at 75 s.
    assert [s.violation for s in seen if s is not None] == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert twin.ready == 20
    # A replayed time is not counted twice.
    again = Observation(time=75.0, replicas=40, ready_replicas=40, utilization=0.5)
    assert twin.step(again, cooldown, 1.25, 0.5) is None


def test_the_shadow_holds_a_change_the_cooldown_does_not_allow() -> None:
    config = hpa.HPAConfig(min_replicas=1, max_replicas=40)
    start = Observation(time=0.0, replicas=10, ready_replicas=10, utilization=1.0)
    twin = shadow.ShadowHPA(hpa.HPABaseline(config), start, 0.0, 60.0)  # scaled at 0 s
    busy = Observation(time=30.0, replicas=10, ready_replicas=10, utilization=2.0)
    step = twin.step(busy, loop.Cooldowns(0, 60, 60), 1.25, 0.0)
    assert step is not None and step.replicas == 10  # wanted 20; 30 s of cooldown left
    later = Observation(time=60.0, replicas=10, ready_replicas=10, utilization=2.0)
    step = twin.step(later, loop.Cooldowns(0, 60, 60), 1.25, 0.0)
    assert step is not None and step.replicas == 20


def _tracker(**kw: object) -> promotion.PromotionTracker:
    config = promotion.PromotionConfig(windows=1, window_decisions=10, demotion_margin=0.1)
    return promotion.PromotionTracker(
        config,
        phase="Active",
        violation_aim=0.007,
        violation_limit=0.01,
        **kw,  # type: ignore[arg-type]
    )


def test_a_learner_that_costs_more_than_the_hpa_alongside_hands_back() -> None:
    tracker = _tracker(hand_back_decisions=40)
    events = []
    for _ in range(60):
        # The estimate says the learner is 1 % cheaper; acting, it costs 3 % more.
        tracker.record_acting(10.3, 10.0, 0.0, 0.0)
        events.append(tracker.record(-1.0, -1.0, 0.0, 0.0, estimate=-0.99))
    transition = next(e for e in events if e is not None)
    assert (transition.phase, transition.reason) == ("Learning", "HandedBack")
    assert events.index(transition) == 39  # at the first window's end with enough evidence
    assert "1.030 × the replicas" in transition.message
    assert tracker.bias == pytest.approx(1.03 / 0.99)
    # Back in Learning, an estimate 2 % cheaper no longer wins a window: it flatters by 4 %.
    assert [tracker.record(-0.98, -1.0) for _ in range(10)] == [None] * 10
    assert tracker.windows_beaten == 0
    # One that is 10 % cheaper on the window and on the rolling memory does.
    events = [tracker.record(-0.5, -1.0) for _ in range(400)]
    assert any(e is not None and e.reason == "BaselineBeaten" for e in events)


def test_a_learner_cheaper_than_the_hpa_alongside_stays() -> None:
    tracker = _tracker(hand_back_decisions=40)
    for _ in range(200):
        tracker.record_acting(9.5, 10.0, 0.008, 0.009)
        assert tracker.record(-1.0, -1.0, 0.008, 0.009) is None
    assert tracker.phase == "Active"


def test_no_hand_back_for_cost_to_an_hpa_that_breaks_the_budget() -> None:
    tracker = _tracker(hand_back_decisions=40)
    for _ in range(200):
        tracker.record_acting(11.0, 10.0, 0.005, 0.03)  # dearer, but the HPA at 3 %
        assert tracker.record(-1.0, -1.0, 0.005, 0.03) is None
    assert tracker.phase == "Active"


def _learner(**changes: object) -> learner.QLearner:
    base = learner.LearnerConfig(min_replicas=1, max_replicas=40, interval_seconds=30.0)
    return learner.QLearner(dataclasses.replace(base, **changes), np.random.default_rng(0))  # type: ignore[arg-type]


def _shadow(brain: learner.QLearner) -> shadow.ShadowHPA | None:
    return brain.shadow


def test_the_evaluation_runs_the_shadow_only_while_the_learner_acts() -> None:
    brain = _learner()
    baseline = hpa.HPABaseline(hpa.HPAConfig(min_replicas=1, max_replicas=40))
    obs = Observation(time=0.0, replicas=10, ready_replicas=10, utilization=0.8)
    evaluation.decide(obs, baseline, brain, NO_COOLDOWN, None)
    assert _shadow(brain) is None
    brain.promotion.phase = promotion.ACTIVE
    for i in range(1, 5):
        obs = Observation(time=30.0 * i, replicas=10, ready_replicas=10, utilization=0.8)
        evaluation.decide(obs, baseline, brain, NO_COOLDOWN, None)
        brain.learn(obs)
    assert _shadow(brain) is not None and brain.promotion.acting == 4
    brain.promotion.phase = promotion.LEARNING
    evaluation.decide(obs, baseline, brain, NO_COOLDOWN, None)
    assert _shadow(brain) is None


def test_violations_between_evaluations_are_counted_from_the_capacity_that_served() -> None:
    """With 30 s evaluations and 15 s SLO samples half of the samples are between evaluations.
    Replicas that became ready at an evaluation served none of the interval before it."""
    brain = _learner()
    assert brain.config.unseen == 0.5
    assert _learner(interval_seconds=15.0).config.unseen == 0.0
    brain.learn(Observation(time=0.0, replicas=9, ready_replicas=7, utilization=0.5))
    before = brain.realized_violations
    # 9 ready now after 7 served the interval: load 10 is fine now (1.11), not before (1.43).
    brain.learn(Observation(time=30.0, replicas=9, ready_replicas=9, utilization=10 / 9))
    assert before == 0.0
    assert brain.realized_violations == pytest.approx(0.25)  # the mean of 0 and ½


def test_the_budget_controller_aims_lower_after_the_budget_was_overspent() -> None:
    brain = _learner()
    aim = brain.config.violation_aim
    assert brain.aim == aim
    brain.realized_violations = 0.012  # 0.2 % over the 1 % budget
    assert brain.aim == pytest.approx(aim - 0.002)
    brain.realized_violations = 0.05
    assert brain.aim == pytest.approx(aim / 4)


def test_a_baseline_over_the_budget_only_for_a_while_is_not_rescued_from() -> None:
    config = promotion.PromotionConfig(windows=1, window_decisions=10, demotion_margin=0.1)

    def tracker() -> promotion.PromotionTracker:
        return promotion.PromotionTracker(
            config, violation_aim=0.007, violation_limit=0.01, violation_decisions=200
        )

    # 370 calm decisions, then a crowd: the baseline at 10 % for 30 decisions takes its rolling
    # rate over the budget, not its long-run one (0.75 % since the start): the learner, dearer,
    # is not promoted.
    crowd = tracker()
    for i in range(400):
        crowd.record(-2.0, -1.0, 0.0, 0.1 if i >= 370 else 0.0)
    assert crowd.baseline_violations > 0.01 and crowd.phase == "Learning"
    # A baseline at 4 % from the start is over twice the budget: after half of the hand-back
    # evidence (25 decisions here) the learner takes over, at the first window's end after it.
    broken = tracker()
    events = [broken.record(-2.0, -1.0, 0.0, 0.04) for _ in range(40)]
    first = next(i for i, e in enumerate(events) if e is not None)
    taken = events[first]
    assert taken is not None and taken.phase == "Active"
    assert first == 29

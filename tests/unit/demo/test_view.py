"""The demo's view: who acts, both choices side by side, no None, and the summary's sums."""

from __future__ import annotations

from typing import Any

from hack.demo import view

POLICY: dict[str, Any] = {
    "status": {
        "phase": "Learning",
        "acting": "hpa",
        "metricSummary": "0.61/0.7",
        "metrics": {"lastUtilization": 0.87},
        "lastDecision": {
            "time": "2026-12-01T08:00:05Z",
            "action": "hold",
            "mode": "baseline",
            "fromReplicas": 17,
            "toReplicas": 17,
            "baselineReplicas": 17,
            "confidence": 1.0,
            "reasoning": "learning, so the HPA formula acted: 17 → 17; the learner would run at "
            "0.9× target → 19 (Q -17.27 vs -17.58 for the next best)",
        },
    }
}


def test_a_decision_line_shows_who_acts_and_both_choices() -> None:
    record = view.decision_record(POLICY, "day 5 01:00", 10.4)
    assert record is not None
    line = view.one_line(record)
    assert "acting hpa" in line
    assert "learner  19  HPA  17" in line
    assert "None" not in line


def test_no_line_before_the_first_decision() -> None:
    assert view.decision_record({"status": {"phase": "Initializing"}}, "day 5 00:00", 3.0) is None


def test_when_the_learner_acts_its_choice_is_the_decision() -> None:
    decision = {**POLICY["status"]["lastDecision"], "mode": "exploit", "toReplicas": 15}
    assert view.learner_replicas(decision, "learner") == 15


def test_the_screen_names_the_actor_and_the_warm_start() -> None:
    screen = view.render(
        clock="day 5 01:00",
        demand=10.4,
        target_utilization=0.7,
        policy=POLICY,
        replicas=17,
        ready=17,
        summary=view.summarize([], [], [], 1.25),
        promotion="it takes over after 2 windows",
        warm_start="Q-table trained on days 1, 2, 3, 4",
        width=100,
    )
    assert "the HPA formula; the learner learns in its shadow" in screen
    assert "learner 19 replicas, HPA formula 17 replicas" in screen
    assert "days 1, 2, 3, 4" in screen


def test_summary_integrates_replicas_and_counts_events() -> None:
    samples = [{"t": 0.0, "replicas": 2, "hpa": 2}, {"t": 60.0, "replicas": 4, "hpa": 3},
               {"t": 120.0, "replicas": 4, "hpa": 3}]  # fmt: skip
    decisions = [
        {"acting": "hpa", "utilization": 1.3, "time": "2026-12-01T08:00:05Z"},
        {"acting": "learner", "utilization": 0.9, "time": "2026-12-01T08:01:35Z"},
    ]
    events = [
        {"reason": "ScaledUp", "message": "2 → 4 (exploit, confidence 1.00): ..."},
        {"reason": "PhaseChanged", "message": "Learning → Active"},
    ]
    summary = view.summarize(samples, decisions, events, 1.25)
    assert (summary["replica_minutes"], summary["hpa_replica_minutes"]) == (6.0, 5.0)
    assert (summary["slo_violations"], summary["learner_decisions"]) == (1, 1)
    assert (summary["scale_events"], summary["learner_scale_events"]) == (1, 1)
    assert summary["learner_first_acted_minutes"] == 1.5
    text = view.summary_text(summary, 1.25)
    assert "20.0% more than the HPA formula's" in text
    assert "it first acted 1.5 minutes after the first evaluation" in text


def test_the_summary_says_when_the_learner_never_acted() -> None:
    decisions = [{"acting": "hpa", "utilization": 0.7, "time": "2026-12-01T08:00:05Z"}]
    summary = view.summarize([], decisions, [], 1.25)
    assert summary["learner_first_acted_minutes"] is None
    assert "it has not acted yet" in view.summary_text(summary, 1.25)


def test_the_promoting_evaluation_is_the_hpa_formulas_decision() -> None:
    """The learn step that promotes runs after that evaluation's decision: status already
    says the learner acts, but this decision (mode baseline) was the HPA formula's."""
    status = {**POLICY["status"], "phase": "Active", "acting": "learner"}
    record = view.decision_record({"status": status}, "day 5 01:00", 10.4)
    assert record is not None
    assert (record["acting"], record["learner"]) == ("hpa", 19)


def test_a_handover_is_logged_once_with_the_reason() -> None:
    beaten = {
        "type": "BaselineBeaten",
        "status": "True",
        "reason": "BaselineBeaten",
        "message": "the learner's shadow reward beat the HPA baseline in 2 windows",
    }
    status = {**POLICY["status"], "acting": "learner", "conditions": [beaten]}
    line = view.handover_line({"status": status}, "hpa")
    assert line == (
        "==> now acting: learner (BaselineBeaten: the learner's shadow reward beat the HPA "
        "baseline in 2 windows)"
    )
    assert view.handover_line({"status": status}, "learner") is None
    # The first sight says who acts (and why), without calling it a change.
    assert str(view.handover_line({"status": status}, None)).startswith("==> acting: learner (")


CARRIED = {
    "type": "BaselineBeaten",
    "status": "True",
    "reason": "PromotionCarriedOver",
    "message": "promotion carried over from the warm-start table",
}


def test_a_carried_promotion_is_named_on_screen_and_in_the_first_log_line() -> None:
    status = {**POLICY["status"], "acting": "learner", "phase": "Active", "conditions": [CARRIED]}
    policy = {"status": status}
    screen = view.render(
        clock="day 5 00:00",
        demand=8.0,
        target_utilization=0.5,
        policy=policy,
        replicas=11,
        ready=11,
        summary=view.summarize([], [], [], 1.75),
        promotion="carried over",
        warm_start="Q-table trained on days 1, 2, 3, 4",
        width=100,
    )
    assert "the LEARNER (promotion carried over from the warm start)" in screen
    assert "promoted     promotion carried over from the warm-start table" in screen
    first = view.handover_line(policy, None)
    assert first == (
        "==> acting: learner (PromotionCarriedOver: promotion carried over from the warm-start "
        "table)"
    )
    assert view.handover_line(policy, "learner") is None
    assert view.handover_line(POLICY, "learner") is not None
    assert str(view.handover_line(POLICY, "learner")).startswith("==> now acting: hpa (")

"""Status building and the Events derived from status transitions."""

from __future__ import annotations

import dataclasses
import datetime

from api.v1 import scalingpolicy_types as types
from controllers import conditions as cond, notices, phases, status
from nimbusguard.clients import errors, sources, workloads
from nimbusguard.workflow import state as st
from tests.unit.controllers.helpers import facts

NOW = 1_800_000_000.0
SPEC = types.ScalingPolicySpec.model_validate(
    {
        "target": {"name": "web"},
        "scaling": {"minReplicas": 1, "maxReplicas": 10, "cooldownPeriod": 60},
        "metrics": {"cpu": {"targetUtilization": 50}},
    }
)
TARGET = workloads.TargetState(
    replicas=3, ready_replicas=3, total_replicas=3, selector="app=web", generation_observed=True
)


def _verdict(**kw: object) -> phases.Verdict:
    return phases.assess(facts(**kw))


def _decision(to: int, mode: st.Mode = "baseline") -> st.Decision:
    action: st.Action = "scale_up" if to > 3 else ("scale_down" if to < 3 else "hold")
    return st.Decision(
        action=action,
        mode=mode,
        from_replicas=3,
        to_replicas=to,
        confidence=1.0,
        reasoning="because",
    )


def _reading(utilization: float) -> sources.Reading:
    return sources.Reading("cpu", utilization * 50, utilization, "detail")


def _build(
    previous: types.ScalingPolicyStatus,
    outcome: status.Outcome,
    verdict: phases.Verdict | None = None,
    last_scale: types.ScaleAction | None = None,
    extra: tuple[cond.Update, ...] = (),
) -> types.ScalingPolicyStatus:
    return status.build(
        previous=previous,
        spec=SPEC,
        generation=2,
        verdict=verdict or _verdict(),
        outcome=outcome,
        evaluated=outcome.decision is not None,
        now=NOW,
        last_scale=last_scale,
        learning=None,
        extra_conditions=extra,
    )


def test_a_scale_action_fills_every_field() -> None:
    action = types.ScaleAction(
        id="e1",
        from_replicas=3,
        to_replicas=5,
        time=datetime.datetime.fromtimestamp(NOW, datetime.UTC),
    )
    new = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.6), decision=_decision(5), scaled_to=5),
        last_scale=action,
    )
    assert (new.phase, new.current_replicas, new.target_replicas) == ("Learning", 5, 5)
    assert new.last_scaling_time == action.time
    assert new.next_scale_time == action.time + datetime.timedelta(seconds=60)
    assert new.metrics is not None
    assert (new.metrics.total_decisions, new.metrics.scale_ups) == (1, 1)
    assert new.last_decision is not None and new.last_decision.reasoning == "because"
    assert new.observed_generation == 2
    assert cond.is_true(new.conditions, cond.METRICS_AVAILABLE)
    assert not cond.is_true(new.conditions, cond.FALLBACK)


def test_success_rate_judges_the_previous_decision() -> None:
    first = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3)),
    )
    good = _build(
        first, status.Outcome(target=TARGET, reading=_reading(0.9), decision=_decision(3))
    )
    assert good.metrics is not None
    assert (good.metrics.judged_decisions, good.metrics.successful_decisions) == (1, 1)
    bad = _build(good, status.Outcome(target=TARGET, reading=_reading(1.5), decision=_decision(3)))
    assert bad.metrics is not None
    assert bad.metrics.success_rate == 0.5


def test_metric_failure_sets_fallback_and_keeps_counters() -> None:
    before = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3)),
    )
    after = _build(
        before,
        status.Outcome(
            target=TARGET,
            metric_error="prometheus: down",
            decision=_decision(3, "fallback"),
            fallback_rung="hold",
        ),
    )
    fb = cond.get(after.conditions, cond.FALLBACK)
    assert fb is not None and (fb.status, fb.reason) == ("True", "HoldingReplicas")
    assert not cond.is_true(after.conditions, cond.METRICS_AVAILABLE)
    events = notices.derive(before, after, status.Outcome())
    pairs = {(n.type, n.reason) for n in events}
    assert ("Warning", "FallbackActivated") in pairs
    assert ("Warning", "MetricUnavailable") in pairs
    recovered = _build(
        after, status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3))
    )
    reasons = {n.reason for n in notices.derive(after, recovered, status.Outcome())}
    assert {"FallbackDeactivated", "MetricsRestored"} <= reasons


def test_errors_keep_the_last_known_numbers() -> None:
    before = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3)),
    )
    verdict = _verdict(target_error=errors.ApiError(404, "gone"), evaluated=False)
    after = _build(before, status.Outcome(), verdict=verdict)
    assert after.phase == "Error"
    assert after.current_replicas == 3
    assert after.metrics == before.metrics
    events = notices.derive(before, after, status.Outcome())
    assert events[0].reason == "PhaseChanged" and events[0].type == "Warning"
    assert any(n.reason == "TargetNotFound" for n in events)
    # The same error again posts nothing new.
    assert (
        notices.derive(after, _build(after, status.Outcome(), verdict=verdict), status.Outcome())
        == []
    )


def test_scale_events_carry_the_reasoning() -> None:
    outcome = status.Outcome(
        target=TARGET, reading=_reading(1.6), decision=_decision(5), scaled_to=5
    )
    new = _build(types.ScalingPolicyStatus(phase="Learning"), outcome)
    (scaled,) = [
        n
        for n in notices.derive(types.ScalingPolicyStatus(phase="Learning"), new, outcome)
        if n.reason == "ScaledUp"
    ]
    assert "3 → 5" in scaled.message and "because" in scaled.message


def test_status_round_trips_through_the_crd_schema() -> None:
    import jsonschema

    from api import crd

    new = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.2), decision=_decision(4)),
    )
    schema = crd.openapi_schema()["properties"]["status"]
    jsonschema.Draft4Validator(schema).validate(new.to_json_dict())


def test_metric_column_shows_cpu_now_against_target() -> None:
    new = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.24), decision=_decision(4)),
    )
    assert new.metric_summary == "62%/50%"
    assert new.acting == "hpa"


def test_metric_column_shows_prometheus_per_replica_and_unknown_on_failure() -> None:
    spec = SPEC.model_copy(
        update={
            "metrics": types.MetricsSpec.model_validate(
                {
                    "prometheus": {
                        "serverAddress": "http://p:9090",
                        "query": "q",
                        "targetValue": 500,
                    },
                    "cpu": {"targetUtilization": 50},
                }
            )
        }
    )

    def build(outcome: status.Outcome, previous: types.ScalingPolicyStatus) -> str | None:
        return status.build(
            previous=previous,
            spec=spec,
            generation=1,
            verdict=_verdict(),
            outcome=outcome,
            evaluated=True,
            now=NOW,
            last_scale=None,
            learning=None,
        ).metric_summary

    reading = sources.Reading("prometheus", 1237.5, 0.825, "detail")
    assert build(status.Outcome(target=TARGET, reading=reading), types.ScalingPolicyStatus()) == (
        "412/500"
    )
    failed = status.Outcome(target=TARGET, metric_error="timeout", decision=_decision(3))
    assert build(failed, types.ScalingPolicyStatus()) == "<unknown>/500"


def test_acting_follows_the_phase() -> None:
    outcome = status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3))
    active = _build(types.ScalingPolicyStatus(), outcome, _verdict(learner_active=True))
    paused = _build(types.ScalingPolicyStatus(), outcome, _verdict(paused=True))
    assert (active.acting, paused.acting) == ("learner", None)


def test_the_decision_keeps_the_hpa_counterfactual() -> None:
    decision = _decision(5, mode="exploit")
    decision = dataclasses.replace(decision, baseline_replicas=4)
    new = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.5), decision=decision),
    )
    assert new.last_decision is not None
    assert new.last_decision.baseline_replicas == 4


def test_a_table_that_cannot_be_saved_posts_one_warning_and_a_recovery() -> None:
    before = _build(
        types.ScalingPolicyStatus(),
        status.Outcome(target=TARGET, reading=_reading(1.0), decision=_decision(3)),
    )
    failing = cond.Update(cond.QTABLE_SAVED, False, "QTableSaveFailed", "forbidden")
    after = _build(before, status.Outcome(), extra=(failing,))
    events = notices.derive(before, after, status.Outcome())
    assert [(n.type, n.reason) for n in events] == [("Warning", "QTableSaveFailed")]
    again = _build(after, status.Outcome(), extra=(failing,))
    assert notices.derive(after, again, status.Outcome()) == []  # still failing: no new Event
    saved = cond.Update(cond.QTABLE_SAVED, True, "Saved", "kept")
    recovered = _build(again, status.Outcome(), extra=(saved,))
    events = notices.derive(again, recovered, status.Outcome())
    assert [(n.type, n.reason) for n in events] == [("Normal", "QTableSaved")]

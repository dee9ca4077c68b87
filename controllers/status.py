"""The next `.status` of a ScalingPolicy from what an evaluation found (pure)."""

from __future__ import annotations

import dataclasses
import datetime

from api.v1 import scalingpolicy_types as types
from controllers import conditions as cond, intents, phases
from nimbusguard.clients import errors, sources, workloads
from nimbusguard.scaling import learner
from nimbusguard.workflow import state as st

# Keep the moving average of the reward responsive but not jumpy (≈ the last 20 decisions).
_REWARD_EMA = 0.05


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The parts of an evaluation's final state the status is built from."""

    target: workloads.TargetState | None = None
    reading: sources.Reading | None = None
    metric_error: str | None = None
    decision: st.Decision | None = None
    fallback_rung: str | None = None
    scaled_to: int | None = None
    scale_error: errors.ClientError | None = None
    learned: learner.LearnResult | None = None

    @classmethod
    def from_state(cls, state: st.EvaluationState) -> Outcome:
        return cls(
            target=state.get("target"),
            reading=state.get("reading"),
            metric_error=state.get("metric_error"),
            decision=state.get("decision"),
            fallback_rung=state.get("fallback_rung"),
            scaled_to=state.get("scaled_to"),
            scale_error=state.get("scale_error"),
            learned=state.get("learned"),
        )


def _dt(seconds: float | None) -> datetime.datetime | None:
    return None if seconds is None else datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _metric_conditions(outcome: Outcome, *, evaluated: bool) -> list[cond.Update]:
    if not evaluated or outcome.target is None:
        return []
    if outcome.reading is not None:
        return [
            cond.Update(cond.METRICS_AVAILABLE, True, "MetricRead", outcome.reading.detail),
            cond.Update(cond.FALLBACK, False, "PrimaryMetricWorks", ""),
        ]
    if outcome.metric_error is not None:
        rung = outcome.fallback_rung or "hold"
        decision = outcome.decision
        return [
            cond.Update(cond.METRICS_AVAILABLE, False, "MetricUnavailable", outcome.metric_error),
            cond.Update(
                cond.FALLBACK,
                True,
                {
                    "hold": "HoldingReplicas",
                    "secondary": "SecondaryMetric",
                    "floor": "FallbackFloor",
                }[rung],
                decision.reasoning if decision else "",
            ),
        ]
    return []


def _judge(
    previous: types.ScalingPolicyStatus,
    outcome: Outcome,
    tolerance: float,
) -> tuple[int, int]:
    """(judged, successful) increments for the previous decision, now that we see its effect.

    A decision succeeded when it was carried out (the target has the replicas it asked for)
    and the metric is now within tolerance of its target or below it.
    """
    last = previous.last_decision
    if last is None or outcome.reading is None or outcome.target is None:
        return 0, 0
    carried_out = outcome.target.replicas == last.to_replicas
    on_target = outcome.reading.utilization <= 1.0 + tolerance
    return 1, int(carried_out and on_target)


def build(
    *,
    previous: types.ScalingPolicyStatus,
    spec: types.ScalingPolicySpec,
    generation: int | None,
    verdict: phases.Verdict,
    outcome: Outcome,
    evaluated: bool,
    now: float,
    last_scale: types.ScaleAction | None,
    learning: types.LearningStatus | None,
    extra_conditions: tuple[cond.Update, ...] = (),
) -> types.ScalingPolicyStatus:
    """The whole new status; fields this evaluation did not learn anything about are kept."""
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    updates = [*verdict.conditions, *_metric_conditions(outcome, evaluated=evaluated)]
    if outcome.scale_error is not None:
        updates.append(
            cond.Update(cond.READY, False, "ScaleFailed", f"scaling failed: {outcome.scale_error}")
        )
    updates.extend(extra_conditions)
    conditions = cond.apply(previous.conditions, updates, now=when, generation=generation)

    metrics = (previous.metrics or types.PolicyMetrics()).model_copy()
    decision = None
    if outcome.decision is not None:
        d = outcome.decision
        decision = types.Decision(
            action=d.action,
            mode=d.mode,
            from_replicas=d.from_replicas,
            to_replicas=d.to_replicas,
            confidence=min(1.0, max(0.0, d.confidence)),
            reasoning=d.reasoning[:2048],
            time=when,
            baseline_replicas=d.baseline_replicas,
        )
        judged, succeeded = _judge(previous, outcome, spec.scaling.behavior.tolerance)
        metrics.judged_decisions += judged
        metrics.successful_decisions += succeeded
        metrics.total_decisions += 1
        if metrics.judged_decisions:
            metrics.success_rate = metrics.successful_decisions / metrics.judged_decisions
        if outcome.scaled_to is not None:
            if outcome.scaled_to > d.from_replicas:
                metrics.scale_ups += 1
            elif outcome.scaled_to < d.from_replicas:
                metrics.scale_downs += 1
    if outcome.reading is not None:
        metrics.last_metric_value = outcome.reading.value
        metrics.last_utilization = outcome.reading.utilization
    if outcome.learned is not None:
        reward, avg = outcome.learned.reward, metrics.average_reward
        metrics.average_reward = reward if avg is None else avg + _REWARD_EMA * (reward - avg)

    record = intents.newest(
        previous,
        types.ScalingPolicyStatus(
            last_scale=last_scale,
            last_scaling_time=(
                last_scale.time
                if last_scale is not None and last_scale.state in (None, "Succeeded")
                else None
            ),
        ),
    )
    target = outcome.target
    return types.ScalingPolicyStatus(
        phase=verdict.phase,
        observed_generation=generation,
        current_replicas=(
            outcome.scaled_to
            if outcome.scaled_to is not None
            else (target.replicas if target else previous.current_replicas)
        ),
        ready_replicas=target.ready_replicas if target else previous.ready_replicas,
        target_replicas=decision.to_replicas if decision else previous.target_replicas,
        last_scaling_time=record.last_scaling_time,
        next_scale_time=_dt(intents.next_scale_time(spec.scaling, record)),
        last_decision=decision or previous.last_decision,
        last_scale=record.last_scale,
        metrics=metrics if evaluated or previous.metrics else None,
        learning=learning or previous.learning,
        conditions=conditions,
        metric_summary=_metric_summary(spec, outcome, previous, evaluated=evaluated),
        acting=_ACTING.get(verdict.phase),
    )


# Who sets the replicas in each phase (status.acting, the kubectl column).
_ACTING: dict[str, types.Acting] = {"Learning": "hpa", "Active": "learner"}


def _short(value: float) -> str:
    """A number in few characters: 1234, 412, 41.2, 62, 0.412."""
    return str(round(value)) if abs(value) >= 100 else f"{value:.3g}"


def _metric_summary(
    spec: types.ScalingPolicySpec,
    outcome: Outcome,
    previous: types.ScalingPolicyStatus,
    *,
    evaluated: bool,
) -> str | None:
    """The primary metric per replica now / its target, as the HPA's TARGETS column shows it."""
    prom, cpu = spec.metrics.prometheus, spec.metrics.cpu
    if prom is not None:
        target, unit, source = prom.target_value, "", "prometheus"
    elif cpu is not None:
        target, unit, source = float(cpu.target_utilization), "%", "cpu"
    else:
        return None
    reading = outcome.reading
    if reading is not None and reading.source == source:
        return f"{_short(reading.utilization * target)}{unit}/{_short(target)}{unit}"
    if evaluated and outcome.metric_error is not None:
        return f"<unknown>/{_short(target)}{unit}"
    return previous.metric_summary

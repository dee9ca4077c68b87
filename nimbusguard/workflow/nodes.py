"""The nodes of one evaluation: observe → decide → act → reward → learn.

Nodes are plain async functions of (state, runtime) returning a partial state update. Pure
work (decide, reward, learn) is still `async def`: LangGraph runs sync nodes in a thread pool,
which costs more than the work itself. Only observe and act do I/O.

Reward and learn consume the transition that ends at this evaluation's observation (the
previous evaluation's action and what followed), so the order in the graph matches the order
in which information arrives.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime

from nimbusguard.clients import errors, sources, workloads
from nimbusguard.scaling import evaluation, observation
from nimbusguard.workflow import cooldowns, fallback, state as st

logger = logging.getLogger(__name__)

Update = dict[str, Any]


def _observation(
    now: float, target: workloads.TargetState, utilization: float
) -> observation.Observation:
    hour = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return observation.Observation(
        time=now,
        replicas=target.replicas,
        ready_replicas=target.ready_replicas,
        utilization=utilization,
        pending_replicas=max(0, target.replicas - target.ready_replicas),
        time_of_day=hour.hour + hour.minute / 60.0,
    )


async def observe(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """Read the target's replicas and readiness, then the metrics (primary first)."""
    ctx, inp = runtime.context, state["input"]
    if ctx.api is None:
        return {"error": ctx.api_error or errors.ClientError("no client for the target cluster")}
    try:
        target = await ctx.targets.read(ctx.api, ctx.target)
    except errors.ClientError as exc:
        return {"error": exc}
    ctx.runtime.read_at = time.monotonic()
    update: Update = {"target": target}
    if inp.spec.paused:
        return update

    primary, *others = ctx.sources
    try:
        reading = _plausible(await primary.read(target))
        update["observation"] = _observation(inp.now, target, reading.utilization)
        update["reading"] = reading
        return update
    except (errors.MetricError, errors.ClusterUnreachableError, errors.ApiError) as exc:
        update["metric_error"] = f"{primary.name}: {exc}"
    except ValueError as exc:  # a negative, non-finite or absurd value never reaches the learner
        update["metric_error"] = f"{primary.name}: invalid value: {exc}"
    except Exception as exc:
        update["metric_error"] = f"{primary.name}: reading failed ({type(exc).__name__}: {exc})"
    for source in others:
        try:
            secondary = _plausible(await source.read(target))
        except Exception as exc:
            logger.debug("secondary metric %s unavailable: %r", source.name, exc)
            continue
        update["secondary"] = secondary
        break
    return update


# Far beyond any real load (a million times the target), far below float overflow once
# multiplied by replica counts: a sample above it is a broken exporter, not demand.
MAX_UTILIZATION = 1e6


def _plausible(reading: sources.Reading) -> sources.Reading:
    u = reading.utilization
    if not math.isfinite(u) or u < 0 or u > MAX_UTILIZATION:
        raise ValueError(f"utilization {u!r}× target is not a plausible load")
    return reading


def _direction(from_replicas: int, to_replicas: int) -> st.Action:
    if to_replicas > from_replicas:
        return "scale_up"
    if to_replicas < from_replicas:
        return "scale_down"
    return "hold"


def _with_cooldown(decision: st.Decision, inp: st.EvaluationInput) -> st.Decision:
    """Hold a change the cooldown does not allow yet, and say when it will be."""
    if decision.action == "hold":
        return decision
    direction: cooldowns.Direction = "up" if decision.action == "scale_up" else "down"
    wait = cooldowns.remaining(inp.spec.scaling, inp.last_scaling_time, direction, inp.now)
    if wait <= 0:
        return decision
    return st.Decision(
        action="hold",
        mode="cooldown",
        from_replicas=decision.from_replicas,
        to_replicas=decision.from_replicas,
        confidence=decision.confidence,
        reasoning=(
            f"{decision.reasoning}; wanted {decision.to_replicas} but the scale-{direction} "
            f"cooldown has {wait:.0f}s left"
        ),
        baseline_replicas=decision.baseline_replicas,
    )


async def decide(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """One evaluation step (`nimbusguard.scaling.evaluation.decide`, which the simulator runs
    too): the HPA baseline's recommendation, the learner's choice behind the shield (the learner
    acts only once promoted), then the cooldown."""
    ctx, inp, obs = runtime.context, state["input"], state["observation"]
    rt = ctx.runtime
    rt.metric_failing_since = None
    reading = state["reading"]
    # An unread stored Q-table: decide without the learner (the HPA formula acts).
    brain = rt.learner if rt.learner_ready else None
    step = evaluation.decide(obs, rt.baseline, brain, inp.spec.scaling, inp.last_scaling_time)
    choice = step.choice
    if choice is None:
        reasoning = f"HPA formula on {reading.source} ({reading.detail}): {step.reasoning}"
    else:
        reasoning = f"{reading.source} {reading.detail}; {step.reasoning}"
    decision = st.Decision(
        action=_direction(obs.replicas, step.replicas),
        mode=step.mode,
        from_replicas=obs.replicas,
        to_replicas=step.replicas,
        confidence=1.0 if choice is None else choice.confidence,
        reasoning=reasoning,
        baseline_replicas=step.baseline.replicas,
        explored=choice is not None and choice.mode == "explore",
        shield_vetoes=0 if choice is None else len(choice.notes),
    )
    return {"decision": decision} if choice is None else {"decision": decision, "choice": choice}


async def fall_back(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """The primary metric is unavailable: walk the fallback ladder (no learning)."""
    ctx, inp, target = runtime.context, state["input"], state["target"]
    rt = ctx.runtime
    if rt.metric_failing_since is None:
        rt.metric_failing_since = inp.now
    scaling = inp.spec.scaling
    secondary = state.get("secondary")
    recommendation = None
    if secondary is not None:
        recommendation = rt.fallback_baseline.recommend(
            _observation(inp.now, target, secondary.utilization)
        )
    step = fallback.choose(
        current=target.replicas,
        failing_for=inp.now - rt.metric_failing_since,
        grace=float(max(scaling.cooldown_period, scaling.evaluation_interval)),
        secondary=recommendation,
        secondary_name=secondary.source if secondary else None,
        fallback_replicas=scaling.fallback_replicas,
        max_replicas=scaling.max_replicas,
    )
    decision = st.Decision(
        action=_direction(target.replicas, step.replicas),
        mode="fallback",
        from_replicas=target.replicas,
        to_replicas=step.replicas,
        confidence=1.0,
        reasoning=f"metric unavailable ({state.get('metric_error', '?')}); {step.reason}",
    )
    return {"decision": _with_cooldown(decision, inp), "fallback_rung": step.rung}


async def act(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """Record the intent in status, then set the replicas through the scale subresource."""
    ctx, inp, decision = runtime.context, state["input"], state["decision"]
    if ctx.api is None:  # observe ends such evaluations there; never scale blind
        return {}
    intent = st.Intent(
        evaluation_id=inp.evaluation_id,
        from_replicas=decision.from_replicas,
        to_replicas=decision.to_replicas,
        time=inp.now,
    )
    if not await ctx.record_intent(intent):
        return {}
    try:
        scaled = await workloads.scale(ctx.api, ctx.target, decision.to_replicas)
    except errors.ApiError as exc:  # an answer: the target refused it
        await ctx.record_outcome(False)
        return {"scale_error": exc}
    except errors.ClientError as exc:  # no answer: it may have been applied; stays Pending
        ctx.targets.unanswered(ctx.target)
        return {"scale_error": exc}
    ctx.targets.scaled(ctx.target, scaled)
    set_to = scaled.replicas
    await ctx.record_outcome(True)
    baselines = (ctx.runtime.baseline, ctx.runtime.fallback_baseline)
    evaluation.record(baselines, inp.now, decision.from_replicas, set_to)
    return {"scaled_to": set_to}


async def reward(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """Score the decisions whose consequences this observation completes: the reward of what
    was done, of every other action (counterfactually) and of the baseline's choice."""
    rt = runtime.context.runtime
    if not rt.learner_ready:
        return {}
    return {"judgements": rt.learner.judge(state["observation"])}


async def learn(state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]) -> Update:
    """Update the policy's Q-table from the scored decisions, and its promotion state; then
    remember this observation for the next evaluation's reward. Every path with an
    observation ends here (the paths without one end at observe, fall_back or act)."""
    rt = runtime.context.runtime
    judgements = state.get("judgements") or []
    update: Update = {}
    if judgements:
        result = rt.learner.apply(judgements)
        rt.dirty = True
        if result is not None:
            update["learned"] = result
    rt.previous = state["observation"]
    return update


# Routing ---------------------------------------------------------------------------------------
# Pure functions of the state after the node's update: graph.py calls them inside the node's
# own step and routes by `Command` (a conditional edge cost a traced LangGraph run per route).


def after_observe(state: st.EvaluationState) -> str:
    if "error" in state or state["input"].spec.paused:
        return END
    if "observation" not in state:
        return "fall_back"
    return "decide"


def _changes(state: st.EvaluationState) -> bool:
    decision = state["decision"]
    return state["input"].may_act and decision.to_replicas != decision.from_replicas


def after_decide(state: st.EvaluationState) -> str:
    return "act" if _changes(state) else "reward"


def after_fall_back(state: st.EvaluationState) -> str:
    return "act" if _changes(state) else END


def after_act(state: st.EvaluationState) -> str:
    return END if state["decision"].mode == "fallback" else "reward"

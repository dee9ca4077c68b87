"""What flows through one evaluation of a policy, and what the nodes get from outside.

`EvaluationState` is the LangGraph state (plain data). Clients, metric sources and the
policy's long-lived runtime (HPA baseline, learner) travel in `EvaluationContext`, the
graph's runtime context: they are not state, are never checkpointed, and are not copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypedDict

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import errors, sources, workloads
from nimbusguard.scaling import learner, observation
from nimbusguard.workflow import runtime as runtime_

Action = Literal["scale_up", "scale_down", "hold"]
Mode = Literal["baseline", "explore", "exploit", "fallback", "cooldown"]


@dataclasses.dataclass(frozen=True)
class EvaluationInput:
    """The policy as this evaluation sees it."""

    policy: str  # namespace/name, for logs and metric labels
    spec: types.ScalingPolicySpec
    now: float  # seconds since the epoch
    evaluation_id: str  # unique per evaluation; recorded with a scale action
    may_act: bool  # False while paused, in conflict, or not the leader
    last_scaling_time: float | None  # from status: the cooldown's memory


@dataclasses.dataclass(frozen=True)
class Decision:
    """What this evaluation decided, in the words `status.lastDecision` uses."""

    action: Action
    mode: Mode
    from_replicas: int
    to_replicas: int
    confidence: float
    reasoning: str
    baseline_replicas: int | None = None
    explored: bool = False
    shield_vetoes: int = 0


@dataclasses.dataclass(frozen=True)
class Intent:
    """A scale action about to be sent; recorded in status before it is sent."""

    evaluation_id: str
    from_replicas: int
    to_replicas: int
    time: float


async def _nothing(_: bool) -> None:
    return None


@dataclasses.dataclass
class EvaluationContext:
    """Per-evaluation dependencies (the graph's runtime context)."""

    target: workloads.TargetRef
    api: Any | None  # the target cluster's ApiClient; None when it could not be built
    api_error: errors.ClientError | None
    sources: Sequence[sources.MetricSource]
    runtime: runtime_.PolicyRuntime
    # Writes the intent to status (optimistically); False means "do not scale now".
    record_intent: Callable[[Intent], Awaitable[bool]]
    # Records the target's answer to the recorded intent: True = took it, False = refused it.
    record_outcome: Callable[[bool], Awaitable[None]] = _nothing
    targets: workloads.Reader = workloads.GETS  # where `observe` reads the target


class EvaluationState(TypedDict, total=False):
    input: EvaluationInput
    target: workloads.TargetState
    error: errors.ClientError  # the target or its cluster could not be read
    reading: sources.Reading  # the primary metric
    metric_error: str  # why the primary metric is unavailable
    secondary: sources.Reading  # another source that still works
    observation: observation.Observation
    decision: Decision
    fallback_rung: str
    scaled_to: int
    scale_error: errors.ClientError
    choice: learner.Choice  # the learner's view of the decision (also while the baseline acts)
    judgements: list[learner.Judgement]  # decisions scored at this observation (reward node)
    learned: learner.LearnResult  # what learning from them produced (learn node)

"""Which Kubernetes Events an evaluation deserves (pure).

Events mark changes, not steady states: a phase change, every scale action (with the
decision's reasoning), a failed scale, and each condition turning bad or good again. A
policy stuck in the same error posts one Warning, not one per evaluation.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from api.v1 import scalingpolicy_types as types
from controllers import conditions as cond, status as status_

EventType = Literal["Normal", "Warning"]


@dataclasses.dataclass(frozen=True)
class Notice:
    type: EventType
    reason: str
    message: str


# Condition type → the status that means trouble, and the reason when it clears.
_WATCHED: dict[str, tuple[str, str]] = {
    cond.PERMITTED: ("False", "Permitted"),
    cond.TARGET_FOUND: ("False", "TargetFound"),
    cond.CLUSTER_REACHABLE: ("False", "ClusterReachable"),
    cond.METRICS_AVAILABLE: ("False", "MetricsRestored"),
    cond.FALLBACK: ("True", "FallbackDeactivated"),
    cond.CONFLICT: ("True", "ConflictResolved"),
    cond.QTABLE_SAVED: ("False", "QTableSaved"),
}


def derive(
    previous: types.ScalingPolicyStatus,
    current: types.ScalingPolicyStatus,
    outcome: status_.Outcome,
) -> list[Notice]:
    notices: list[Notice] = []
    if current.phase != previous.phase and current.phase is not None:
        ready = cond.get(current.conditions, cond.READY)
        why = f": {ready.message}" if ready and ready.message else ""
        notices.append(
            Notice(
                "Warning" if current.phase == "Error" else "Normal",
                "PhaseChanged",
                f"{previous.phase or 'new'} → {current.phase}{why}",
            )
        )

    for type_, (bad, cleared_reason) in _WATCHED.items():
        old, new = cond.get(previous.conditions, type_), cond.get(current.conditions, type_)
        if new is None or (old is not None and old.status == new.status):
            continue
        if new.status == bad:
            reason = "FallbackActivated" if type_ == cond.FALLBACK else new.reason
            notices.append(Notice("Warning", reason, new.message or reason))
        elif old is not None and old.status == bad:
            notices.append(Notice("Normal", cleared_reason, new.message or cleared_reason))

    decision = outcome.decision
    if decision is not None and outcome.scaled_to is not None:
        up = outcome.scaled_to > decision.from_replicas
        notices.append(
            Notice(
                "Normal",
                "ScaledUp" if up else "ScaledDown",
                f"{decision.from_replicas} → {outcome.scaled_to} ({decision.mode}, confidence "
                f"{decision.confidence:.2f}): {decision.reasoning}",
            )
        )
    if outcome.scale_error is not None and decision is not None:
        notices.append(
            Notice(
                "Warning",
                "ScaleFailed",
                f"could not scale {decision.from_replicas} → {decision.to_replicas}: "
                f"{outcome.scale_error}",
            )
        )
    return notices

"""The ScalingPolicy state machine (pure).

    Initializing → (validate the target) → Error | Learning → Active  (learner promoted)
                                                       ↑________↓       (learner demoted)
    any → Paused while spec.paused;  Error → Learning/Active as soon as the cause is gone.
    any → Error while the operator's configuration does not permit the policy (tenancy,
          metric endpoint); it then never acts, paused or not.

Configuration faults (target missing, RBAC, unknown cluster, conflict) are phase Error: the
policy cannot work until something changes, and it recovers by itself when it does. Transient
faults (an unreachable cluster, a 5xx) keep the phase and set Ready=False: the policy keeps
the target's replicas and resumes when the fault clears.
"""

from __future__ import annotations

import dataclasses

from api.v1 import scalingpolicy_types as types
from controllers import conditions as cond
from nimbusguard.clients import errors

Phase = types.Phase


@dataclasses.dataclass(frozen=True)
class Facts:
    """What one evaluation established."""

    paused: bool
    target: str  # human name of the target, e.g. "Deployment shop/web in cluster 'member'"
    target_error: errors.ClientError | None
    conflict: str | None  # why another autoscaler owns the target, if one does
    learner_active: bool
    previous_phase: Phase | None
    evaluated: bool  # False when the workflow did not run (error, conflict)
    # (reason, message) when the operator's tenancy or endpoint configuration forbids the
    # policy; it then never acts (see controllers/permits.py)
    refusal: tuple[str, str] | None = None
    # False when `conflict` says the check itself failed (HPAs could not be listed): the
    # policy does not act, but nothing is known to own the target either.
    conflict_known: bool = True


@dataclasses.dataclass(frozen=True)
class Verdict:
    phase: Phase
    may_act: bool
    ready_reason: str
    ready_message: str
    conditions: tuple[cond.Update, ...]


def _transient(exc: errors.ClientError) -> bool:
    if isinstance(exc, errors.ClusterUnreachableError):
        return True
    return isinstance(exc, errors.ApiError) and exc.transient


def _target_conditions(facts: Facts) -> tuple[tuple[cond.Update, ...], str, str]:
    """TargetFound and ClusterReachable, plus the reason/message for Ready when they fail."""
    exc = facts.target_error
    if exc is None:
        found = cond.Update(cond.TARGET_FOUND, True, "TargetFound", f"{facts.target} exists")
        reach = cond.Update(cond.CLUSTER_REACHABLE, True, "ClusterReachable", "")
        return (found, reach), "", ""
    if isinstance(exc, errors.ClusterConfigError):
        reach = cond.Update(cond.CLUSTER_REACHABLE, False, exc.reason, exc.message)
        found = cond.Update(cond.TARGET_FOUND, None, "ClusterUnknown", "cannot look for the target")
        return (found, reach), exc.reason, exc.message
    if isinstance(exc, errors.ClusterUnreachableError):
        reach = cond.Update(cond.CLUSTER_REACHABLE, False, exc.reason, exc.message)
        found = cond.Update(cond.TARGET_FOUND, None, "ClusterUnreachable", "cannot look now")
        return (found, reach), exc.reason, f"{exc.message}; keeping the current replicas"
    reach = cond.Update(cond.CLUSTER_REACHABLE, True, "ClusterReachable", "")
    if isinstance(exc, errors.ApiError) and exc.status == 404:
        msg = f"{facts.target} does not exist"
        return (
            (cond.Update(cond.TARGET_FOUND, False, "TargetNotFound", msg), reach),
            ("TargetNotFound"),
            msg,
        )
    if isinstance(exc, errors.ApiError) and exc.status == 401:
        msg = (
            f"the API server of {facts.target} refused the operator's credentials "
            f"({exc.message}): the token expired or was revoked; renew it in the kubeconfig"
        )
        return (
            (cond.Update(cond.TARGET_FOUND, None, "Unauthorized", msg), reach),
            "Unauthorized",
            msg,
        )
    if isinstance(exc, errors.ApiError) and exc.status == 403:
        msg = (
            f"the operator may not read {facts.target} ({exc.message}); grant its "
            "ServiceAccount get on the workload and patch on its scale subresource"
        )
        return (cond.Update(cond.TARGET_FOUND, False, "Forbidden", msg), reach), "Forbidden", msg
    msg = f"reading {facts.target} failed: {exc.message}"
    return (cond.Update(cond.TARGET_FOUND, None, exc.reason, msg), reach), exc.reason, msg


def assess(facts: Facts) -> Verdict:
    """The phase, whether the policy may act, and its Ready/TargetFound/... conditions."""
    updates, fail_reason, fail_message = _target_conditions(facts)
    conflict = cond.Update(
        cond.CONFLICT,
        (facts.conflict is not None) if facts.conflict_known else None,
        (
            ("TargetOwnedElsewhere" if facts.conflict else "NoConflict")
            if facts.conflict_known
            else "ConflictCheckFailed"
        ),
        facts.conflict or "",
    )
    if facts.refusal is not None:
        reason, message = facts.refusal
        permitted = cond.Update(cond.PERMITTED, False, reason, message)
        ready = cond.Update(cond.READY, False, reason, message)
        return Verdict("Error", False, reason, message, (ready, permitted))
    permitted = cond.Update(cond.PERMITTED, True, "Permitted", "")
    updates = (permitted, *updates, conflict)
    working: Phase = "Active" if facts.learner_active else "Learning"

    if facts.paused:
        phase: Phase = "Paused"
        reason, message = "Paused", "spec.paused is true; the target keeps its replicas"
        may_act = False
    elif facts.target_error is not None and _transient(facts.target_error):
        keep = facts.previous_phase
        phase = keep if keep in ("Learning", "Active") else "Initializing"
        reason, message, may_act = fail_reason, fail_message, False
    elif facts.target_error is not None:
        phase, reason, message, may_act = "Error", fail_reason, fail_message, False
    elif facts.conflict is not None and not facts.conflict_known:
        keep = facts.previous_phase
        phase = keep if keep in ("Learning", "Active") else "Initializing"
        reason, message, may_act = "ConflictCheckFailed", facts.conflict, False
    elif facts.conflict is not None:
        phase, reason, message, may_act = "Error", "TargetOwnedElsewhere", facts.conflict, False
    else:
        phase, may_act = working, True
        reason = "LearnerActive" if facts.learner_active else "LearningBehindBaseline"
        message = (
            "the Q-learner decides, through the shield"
            if facts.learner_active
            else "the HPA formula decides while the Q-learner learns"
        )
    # Paused on purpose is healthy: Ready stays True (reason Paused), as KEDA does, so GitOps
    # health checks (kstatus, Flux wait) do not report a paused policy as failing.
    ready = cond.Update(cond.READY, may_act or phase == "Paused", reason, message)
    return Verdict(phase, may_act, reason, message, (ready, *updates))

"""The state machine: every fault maps to the right phase, Ready and condition reasons."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as hs

from controllers import conditions as cond, phases
from nimbusguard.clients import errors
from tests.unit.controllers.helpers import facts as _facts


def _conds(verdict: phases.Verdict) -> dict[str, cond.Update]:
    return {u.type: u for u in verdict.conditions}


def test_healthy_policy_learns_behind_the_baseline() -> None:
    v = phases.assess(_facts())
    assert (v.phase, v.may_act) == ("Learning", True)
    c = _conds(v)
    assert c[cond.READY].status is True
    assert c[cond.TARGET_FOUND].status is True
    assert c[cond.CONFLICT].status is False


def test_promoted_learner_is_active() -> None:
    assert phases.assess(_facts(learner_active=True)).phase == "Active"


def test_missing_target_is_an_error_that_names_it() -> None:
    v = phases.assess(_facts(target_error=errors.ApiError(404, "HTTP 404: not found")))
    assert (v.phase, v.may_act) == ("Error", False)
    c = _conds(v)
    assert c[cond.TARGET_FOUND].reason == "TargetNotFound"
    assert "Deployment ns/web does not exist" in c[cond.READY].message


def test_rbac_problem_is_named() -> None:
    v = phases.assess(_facts(target_error=errors.ApiError(403, "HTTP 403: forbidden")))
    assert v.phase == "Error"
    assert _conds(v)[cond.TARGET_FOUND].reason == "Forbidden"
    assert "ServiceAccount" in v.ready_message


def test_unknown_cluster_is_an_error_with_the_clients_reason() -> None:
    exc = errors.ClusterConfigError("UnknownCluster", "context 'x' is not in the kubeconfig")
    v = phases.assess(_facts(target_error=exc))
    assert v.phase == "Error"
    assert _conds(v)[cond.CLUSTER_REACHABLE].reason == "UnknownCluster"
    assert _conds(v)[cond.CLUSTER_REACHABLE].status is False


@pytest.mark.parametrize("previous", ["Learning", "Active"])
def test_unreachable_cluster_keeps_the_phase_and_does_not_act(previous: str) -> None:
    v = phases.assess(
        _facts(target_error=errors.ClusterUnreachableError("timeout"), previous_phase=previous)
    )
    assert (v.phase, v.may_act) == (previous, False)
    assert _conds(v)[cond.CLUSTER_REACHABLE].status is False
    assert _conds(v)[cond.READY].reason == "ClusterUnreachable"


def test_server_errors_are_transient() -> None:
    v = phases.assess(
        _facts(target_error=errors.ApiError(503, "HTTP 503"), previous_phase="Learning")
    )
    assert v.phase == "Learning" and not v.may_act


def test_unsupported_kind_is_an_error() -> None:
    exc = errors.ClientError("kind 'Job' is not supported", reason="UnsupportedKind")
    assert phases.assess(_facts(target_error=exc)).phase == "Error"


def test_conflict_never_acts() -> None:
    v = phases.assess(_facts(conflict="ScalingPolicy ns/first already scales this target"))
    assert (v.phase, v.may_act) == ("Error", False)
    assert _conds(v)[cond.CONFLICT].status is True


def test_paused_wins_over_everything() -> None:
    v = phases.assess(_facts(paused=True, target_error=errors.ApiError(404, "gone")))
    assert (v.phase, v.may_act) == ("Paused", False)


def test_paused_is_ready_with_reason_paused() -> None:
    # A pause is intended: GitOps health checks must not see the policy as failing.
    ready = _conds(phases.assess(_facts(paused=True)))[cond.READY]
    assert (ready.status, ready.reason) == (True, "Paused")


errors_ = hs.sampled_from(
    [
        None,
        errors.ApiError(404, "x"),
        errors.ApiError(403, "x"),
        errors.ApiError(500, "x"),
        errors.ApiError(409, "x"),
        errors.ClusterUnreachableError("x"),
        errors.ClusterConfigError("UnknownCluster", "x"),
    ]
)


@given(
    paused=hs.booleans(),
    target_error=errors_,
    conflict=hs.none() | hs.just("owned elsewhere"),
    learner_active=hs.booleans(),
    previous=hs.sampled_from([None, "Initializing", "Learning", "Active", "Paused", "Error"]),
)
def test_acting_requires_a_healthy_unpaused_unconflicted_target(
    paused: bool,
    target_error: errors.ClientError | None,
    conflict: str | None,
    learner_active: bool,
    previous: phases.Phase | None,
) -> None:
    v = phases.assess(
        _facts(
            paused=paused,
            target_error=target_error,
            conflict=conflict,
            learner_active=learner_active,
            previous_phase=previous,
        )
    )
    assert v.may_act == (not paused and target_error is None and conflict is None)
    if v.may_act:
        assert v.phase in ("Learning", "Active")
    ready = _conds(v)[cond.READY]
    assert ready.status is (v.may_act or paused)
    assert ready.reason


def test_a_refused_policy_is_in_error_and_never_acts_even_when_paused() -> None:
    message = "spec.target.namespace: a policy in namespace 'dev' may target only ..."
    for paused in (False, True):
        verdict = phases.assess(
            _facts(paused=paused, refusal=("TargetNotPermitted", message), evaluated=False)
        )
        assert verdict.phase == "Error"
        assert not verdict.may_act
        by_type = {u.type: u for u in verdict.conditions}
        assert by_type["Ready"].reason == "TargetNotPermitted"
        assert by_type["Permitted"].status is False
        assert by_type["Permitted"].message == message


def test_a_permitted_policy_says_so() -> None:
    verdict = phases.assess(_facts())
    assert {u.type: u.status for u in verdict.conditions}["Permitted"] is True

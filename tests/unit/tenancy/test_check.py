"""Namespace sameness plus explicit grants, the rule both enforcements share."""

from __future__ import annotations

import pytest

from nimbusguard import tenancy

GRANTS = tenancy.Grants({"team-a": "prod-eu/team-a-legacy, */shared-batch", "dev": ""})


@pytest.mark.parametrize("cluster", [None, "prod-eu", "hub", "arn:aws:eks:eu:1:cluster/x"])
def test_the_own_namespace_is_allowed_in_every_cluster(cluster: str | None) -> None:
    assert tenancy.check("dev", cluster, None, GRANTS) is None
    assert tenancy.check("dev", cluster, "dev", GRANTS) is None


def test_a_grant_allows_exactly_its_cluster_and_namespace() -> None:
    assert tenancy.check("team-a", "prod-eu", "team-a-legacy", GRANTS) is None
    assert tenancy.check("team-a", "prod-us", "team-a-legacy", GRANTS) is not None
    assert tenancy.check("team-a", "prod-eu", "team-a-legacy2", GRANTS) is not None
    # Grants belong to their namespace only.
    assert tenancy.check("dev", "prod-eu", "team-a-legacy", GRANTS) is not None


def test_a_star_grant_allows_its_namespace_in_every_member_cluster() -> None:
    for cluster in ("prod-eu", "prod-us", "hub"):
        assert tenancy.check("team-a", cluster, "shared-batch", GRANTS) is None


def test_cluster_hub_is_no_back_door() -> None:
    refusal = tenancy.check("dev", "hub", "kube-system", GRANTS)
    assert refusal is not None
    assert refusal.reason == "TargetNotPermitted"
    assert refusal.message.startswith("spec.target.namespace: ")
    assert "'kube-system'" in refusal.message and "cluster 'hub'" in refusal.message
    assert "namespace sameness" in refusal.message


def test_a_hub_target_in_another_namespace_is_refused_even_with_a_star_grant() -> None:
    refusal = tenancy.check("team-a", None, "shared-batch", GRANTS)
    assert refusal is not None and "in the hub cluster" in refusal.message


def test_the_refusal_names_no_other_tenant() -> None:
    refusal = tenancy.check("dev", "prod-eu", "kube-system", GRANTS)
    assert refusal is not None
    assert "team-a" not in refusal.message


def test_no_grants_means_sameness_only() -> None:
    assert tenancy.check("team-a", "prod-eu", "team-a-legacy", tenancy.Grants.none()) is not None


def test_a_cluster_name_containing_a_slash_cannot_forge_a_grant() -> None:
    grants = tenancy.Grants({"dev": "prod/eu/dev-legacy"})
    # The namespace is everything after the last slash; "eu/dev-legacy" is not a namespace.
    assert tenancy.check("dev", "prod/eu", "dev-legacy", grants) is None
    assert tenancy.check("dev", "prod", "eu/dev-legacy", grants) is not None


def test_malformed_grants_are_reported_and_never_match() -> None:
    grants = tenancy.Grants({"dev": "prod-eu, /x, prod eu/y, ok/Bad_NS, prod-eu/fine", "Bad": ""})
    problems = grants.problems()
    assert any("'prod-eu'" in p for p in problems)
    assert any("'/x'" in p for p in problems)
    assert any("'prod eu/y'" in p for p in problems)
    assert any("'ok/Bad_NS'" in p for p in problems)
    assert any("key 'Bad'" in p for p in problems)
    assert not any("prod-eu/fine" in p for p in problems)
    assert tenancy.check("dev", "prod-eu", "fine", grants) is None


def test_member_role_bindings_cover_tenants_and_grants_of_that_cluster_only() -> None:
    bindings = tenancy.member_role_bindings("prod-eu", ["team-a", "team-b"], GRANTS)
    namespaces = [b["metadata"]["namespace"] for b in bindings]
    assert namespaces == ["shared-batch", "team-a", "team-a-legacy", "team-b"]
    for binding in bindings:
        assert binding["kind"] == "RoleBinding"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "nimbusguard-member-role",
        }
    other = tenancy.member_role_bindings("prod-us", ["team-a"], GRANTS)
    assert [b["metadata"]["namespace"] for b in other] == ["shared-batch", "team-a"]


def test_member_role_bindings_refuse_a_bad_namespace() -> None:
    with pytest.raises(ValueError, match="not a namespace name"):
        tenancy.member_role_bindings("prod-eu", ["Team_A"], tenancy.Grants.none())

"""Policies in the hub scale Deployments in a member cluster chosen by kubeconfig context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario, StartOperator


def test_member_target_is_scaled_and_an_outage_only_affects_its_policies(
    e2e_clusters: support.E2EClusters,
    hub_api: Any,
    member_api: Any,
    hub_namespace: str,
    member_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
    load_exporter: LoadExporter,
    series: str,
) -> None:
    if e2e_clusters.local is None:
        pytest.skip("stopping an API server needs the local control planes")
    hub_ns, member_ns = hub_namespace, member_namespace
    h.create_deployment(member_api, member_ns, "edge", replicas=1)
    h.create_deployment(hub_api, hub_ns, "core", replicas=1)
    load_exporter.set(f"{series}-edge", 3)
    load_exporter.set(f"{series}-core", 1)
    h.create_policy(
        hub_api,
        hub_ns,
        h.policy_body(
            "edge",
            "edge",
            query=h.demand_query(f"{series}-edge"),
            prometheus_url=prometheus.url,
            cluster=e2e_clusters.member_context,
            target_namespace=member_ns,
            cooldown=5,
        ),
    )
    h.create_policy(
        hub_api,
        hub_ns,
        h.policy_body(
            "core",
            "core",
            query=h.demand_query(f"{series}-core"),
            prometheus_url=prometheus.url,
            cooldown=5,
        ),
    )
    start_operator(hub_ns).wait_ready()

    # The member's Deployment follows the hub's policy.
    h.wait_replicas(member_api, member_ns, "edge", 3)
    # The status write follows the scale: wait for it rather than racing it.
    h.wait_condition(hub_api, hub_ns, "edge", "ClusterReachable", status_="True", timeout=30)
    assert (
        f"in cluster '{e2e_clusters.member_context}'"
        in h.condition(hub_api, hub_ns, "edge", "TargetFound")["message"]
    )

    # The member's API server goes away: only its policy notices.
    e2e_clusters.local.stop_apiserver("member")
    try:
        h.wait_condition(hub_api, hub_ns, "edge", "ClusterReachable", status_="False")
        assert h.status(hub_api, hub_ns, "edge")["phase"] == "Learning"  # kept, not Error
        assert h.status(hub_api, hub_ns, "edge")["currentReplicas"] == 3  # last replicas kept
        assert h.condition(hub_api, hub_ns, "edge", "Ready")["status"] == "False"
        # The hub policy keeps working meanwhile.
        load_exporter.set(f"{series}-core", 2)
        h.wait_replicas(hub_api, hub_ns, "core", 2, timeout=40)
        assert h.condition(hub_api, hub_ns, "core", "Ready")["status"] == "True"
    finally:
        e2e_clusters.local.start_apiserver("member")

    # It recovers by itself.
    h.wait_condition(hub_api, hub_ns, "edge", "ClusterReachable", status_="True", timeout=90)
    load_exporter.set(f"{series}-edge", 4)
    h.wait_replicas(member_api, member_ns, "edge", 4)
    assert h.condition(hub_api, hub_ns, "edge", "Ready")["status"] == "True"


def test_unknown_context_is_an_error_with_a_clear_reason(
    hub_api: Any,
    hub_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
) -> None:
    ns = hub_namespace
    h.create_policy(
        hub_api,
        ns,
        h.policy_body(
            "far",
            "far",
            query="vector(1)",
            prometheus_url=prometheus.url,
            cluster="no-such-context",
            target_namespace=ns,
        ),
    )
    start_operator(ns).wait_ready()
    h.wait_phase(hub_api, ns, "far", "Error")
    reach = h.condition(hub_api, ns, "far", "ClusterReachable")
    assert (reach["status"], reach["reason"]) == ("False", "UnknownCluster")
    assert "no-such-context" in reach["message"]
    # The message names the policy's own cluster only: no other contexts, no file paths.
    for other in ("'member'", "'hub'", "contexts:", "/"):
        assert other not in reach["message"], other


def test_without_a_member_kubeconfig_only_member_policies_fail(
    scenario: Scenario, tmp_path: Path
) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("local", 1)
    scenario.demand(2)
    scenario.policy("local", "local")
    scenario.policy("remote", "remote", query="vector(1)", cluster="member")
    # As with a member-clusters Secret that is not mounted (yet).
    operator = scenario.operator(member_kubeconfig=tmp_path / "absent" / "kubeconfig")
    h.wait_phase(hub_api, ns, "remote", "Error")
    assert h.condition(hub_api, ns, "remote", "ClusterReachable")["reason"] == (
        "MemberKubeconfigMissing"
    )
    h.wait_replicas(hub_api, ns, "local", 2, timeout=40)
    assert operator.running()

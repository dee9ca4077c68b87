"""Tenancy on real API servers: the admission policy of config/admission refuses what the
grants do not allow, and the operator refuses again whatever got past it, never acting on it.

The admission policy is installed per test (the `admission` fixture), bound to the test's
namespace only, with the test's namespace as the operator's namespace, so other tests never
meet it.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from nimbusguard import tenancy
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Admission, Scenario, dry_run


def test_admission_refuses_other_namespaces_unless_granted(
    hub_api: Any, hub_namespace: str, admission: Admission
) -> None:
    ns = hub_namespace
    admission({ns: "prod-eu/legacy, */batch"})

    def verdict(cluster: str | None, target_ns: str | None) -> str | None:
        body = h.policy_body("p", "web", cluster=cluster, target_namespace=target_ns)
        return dry_run(hub_api, ns, body)

    assert verdict(None, None) is None
    assert verdict("prod-eu", ns) is None  # namespace sameness, any cluster
    assert verdict("prod-eu", "legacy") is None  # granted
    assert verdict("prod-us", "batch") is None  # granted in every member cluster
    refused = verdict("prod-us", "legacy")
    assert refused is not None
    assert "spec.target.namespace:" in refused and "namespace sameness" in refused
    assert "'legacy' in cluster 'prod-us'" in refused
    # `cluster: hub` is a cluster like any other.
    hub = verdict("hub", "kube-system")
    assert hub is not None and "in cluster 'hub'" in hub
    # The admission policy and the operator's check agree on every one of these.
    grants = tenancy.Grants({ns: "prod-eu/legacy, */batch"})
    for cluster, target_ns in [("prod-eu", "legacy"), ("prod-us", "legacy"), ("hub", "x")]:
        operator_says = tenancy.check(ns, cluster, target_ns, grants)
        assert (operator_says is None) == (verdict(cluster, target_ns) is None)


def test_metadata_changes_of_an_older_policy_pass_and_spec_changes_do_not(
    hub_api: Any, hub_namespace: str, admission: Admission
) -> None:
    ns = hub_namespace
    # Admitted before the admission policy existed.
    h.create_policy(
        hub_api, ns, h.policy_body("old", "web", cluster="prod-eu", target_namespace="kube-system")
    )
    admission({})
    h.patch_policy(hub_api, ns, "old", {"metadata": {"labels": {"team": "a"}}})
    with pytest.raises(kubernetes.client.ApiException) as info:
        h.patch_policy(hub_api, ns, "old", {"spec": {"scaling": {"maxReplicas": 4}}})
    assert info.value.status == 403
    assert "spec.target.namespace" in (info.value.body or "")


def test_without_the_grants_config_map_nothing_is_admitted(
    hub_api: Any, hub_namespace: str, admission: Admission
) -> None:
    admission({})
    support.core_v1(hub_api).delete_namespaced_config_map(tenancy.CONFIG_MAP, hub_namespace)
    support.wait_until(
        lambda: (
            "no params found" in (dry_run(hub_api, hub_namespace, h.policy_body("p", "w")) or "")
        ),
        # The API server learns of the deletion through its params informer; on the loaded
        # 2-core CI machine that once took over 30 s.
        timeout=90,
        what="the admission policy to fail closed without its params",
    )


def _evaluations(operator: Any) -> float:
    """Evaluations the operator has run (all policies), from its own /metrics."""
    for line in operator.metrics().splitlines():
        if line.startswith('nimbusguard_reconcile_duration_seconds_count{handler="evaluate"}'):
            return float(line.split()[-1])
    return 0.0


def test_the_operator_refuses_what_got_past_admission_and_never_acts(
    scenario: Scenario, member_api: Any
) -> None:
    """No admission policy here: the operator alone. A member target in another namespace
    stays untouched until the platform team grants it; then the same policy acts."""
    api, ns = scenario.api, scenario.ns
    other = f"{ns}-legacy"[:63]
    support.core_v1(member_api).create_namespace({"metadata": {"name": other}})
    try:
        h.create_deployment(member_api, other, "victim", replicas=1)
        scenario.demand(3)  # three replicas' worth
        scenario.policy("reach", "victim", cluster="member", target_namespace=other)
        scenario.policy("probe", "web", prometheus_url="http://10.255.0.1:9090")
        operator = scenario.operator()
        h.wait_condition(
            api, ns, "reach", "Permitted", status_="False", reason="TargetNotPermitted"
        )
        assert h.status(api, ns, "reach")["phase"] == "Error"
        ready = h.condition(api, ns, "reach", "Ready")
        assert ready["reason"] == "TargetNotPermitted"
        assert ready["message"].startswith("spec.target.namespace: ")
        support.wait_until(
            lambda: "TargetNotPermitted" in h.event_reasons(api, ns, "reach"),
            timeout=30,
            what="a TargetNotPermitted Event in the policy's namespace",
        )
        h.wait_condition(api, ns, "probe", "Permitted", reason="EndpointNotPermitted")
        assert "serverAddress" in h.condition(api, ns, "probe", "Permitted")["message"]
        # Six more evaluations (three of each policy): the target is as it was, nothing was
        # decided, nothing recorded.
        before = _evaluations(operator)
        support.wait_until(
            lambda: _evaluations(operator) >= before + 6,
            timeout=60,
            what="six more evaluations",
        )
        assert h.replicas(member_api, other, "victim") == 1
        status = h.status(api, ns, "reach")
        assert "lastDecision" not in status and "lastScale" not in status

        # The platform team grants it: the same policy acts, without a restart.
        support.core_v1(api).create_namespaced_config_map(
            ns, {"metadata": {"name": tenancy.CONFIG_MAP}, "data": {ns: f"member/{other}"}}
        )
        h.wait_condition(api, ns, "reach", "Permitted", status_="True", timeout=60)
        h.wait_replicas(member_api, other, "victim", 3, timeout=90)
        assert "Traceback" not in operator.log()
    finally:
        support.core_v1(member_api).delete_namespace(other, propagation_policy="Background")

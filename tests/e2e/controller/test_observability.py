"""/metrics, /healthz and /readyz of a running operator."""

from __future__ import annotations

import json

from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario

REQUIRED = (
    "nimbusguard_policies_total",
    "nimbusguard_active_policies",
    'nimbusguard_policies_by_phase{phase="Learning"}',
    "nimbusguard_workflows_total",
    "nimbusguard_workflows_successful_total",
    'nimbusguard_scaling_actions_total{direction="up"}',
    "nimbusguard_reconcile_duration_seconds_bucket",
    'nimbusguard_decisions_total{action="scale_up",mode="baseline"}',
)


def test_endpoints(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("obs", 1)
    scenario.demand(3)
    scenario.policy("obs", "obs")
    op = scenario.operator()
    h.wait_replicas(hub_api, ns, "obs", 3)

    status, body = op.get("/healthz")
    assert status == 200 and json.loads(body)["healthy"] is True
    ready = op.readyz()
    assert ready == {"ready": True, "role": "single", "reason": "watching ScalingPolicies"}
    support.wait_until(
        lambda: all(m in op.metrics() for m in REQUIRED), timeout=20, what="every required series"
    )
    text = op.metrics()
    assert 'nimbusguard_policies_by_phase{phase="Learning"} 1.0' in text
    assert f'nimbusguard_policy_replicas{{kind="current",policy="{ns}/obs"}} 3.0' in text
    # The probe port serves the probes only; metrics are on their own port.
    assert op.get("/anything")[0] == 404
    assert op.get("/metrics")[0] == 404

    # Every log line is JSON naming the policy.
    lines = [json.loads(line) for line in op.log().splitlines() if line.startswith("{")]
    decisions = [line for line in lines if line["message"].startswith("decision")]
    assert decisions
    assert all(d["namespace"] == ns and d["policy"] == "obs" for d in decisions)
    assert all(d["cluster"] == "hub" for d in decisions)

"""One autoscaler per target: a second policy, or an HPA, on the same target never acts."""

from __future__ import annotations

import time
from typing import Any

import kubernetes

from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario


def test_second_policy_on_a_target_is_a_conflict_and_never_acts(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("shared", 2)
    scenario.demand(2)
    scenario.demand(9, series="rival")
    scenario.policy("first", "shared")
    time.sleep(1.1)  # creationTimestamp has one-second resolution; "first" must be older
    scenario.policy("rival", "shared", series="rival")
    scenario.operator()

    h.wait_phase(hub_api, ns, "rival", "Error")
    conflict = h.condition(hub_api, ns, "rival", "Conflict")
    assert conflict["status"] == "True"
    assert f"{ns}/first" in conflict["message"]
    h.wait_phase(hub_api, ns, "first", "Learning")
    assert h.condition(hub_api, ns, "first", "Conflict")["status"] == "False"
    # The rival's metric asks for 9 replicas; it must never get them.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert h.replicas(hub_api, ns, "shared") == 2
        time.sleep(0.5)

    # The first policy still works.
    scenario.demand(3)
    h.wait_replicas(hub_api, ns, "shared", 3, timeout=40)


def test_a_horizontal_pod_autoscaler_on_the_target_is_a_conflict(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("legacy", 1)
    hpa: Any = {
        "metadata": {"name": "legacy-hpa"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
    }
    kubernetes.client.AutoscalingV2Api(hub_api).create_namespaced_horizontal_pod_autoscaler(ns, hpa)
    scenario.demand(6)
    scenario.policy("legacy", "legacy")
    scenario.operator()
    h.wait_phase(hub_api, ns, "legacy", "Error")
    conflict = h.condition(hub_api, ns, "legacy", "Conflict")
    assert conflict["status"] == "True"
    assert "HorizontalPodAutoscaler legacy-hpa" in conflict["message"]

    # Another target in the same namespace, without an HPA, is not affected by it (the
    # namespace's HPA list is shared between its policies, what each scales is not).
    scenario.deployment("fresh", 1)
    scenario.demand(3, series="fresh")
    scenario.policy("fresh", "fresh", series="fresh")
    h.wait_replicas(hub_api, ns, "fresh", 3, timeout=40)
    h.wait_phase(hub_api, ns, "fresh", "Learning")
    assert h.condition(hub_api, ns, "fresh", "Conflict")["status"] == "False"
    assert h.replicas(hub_api, ns, "legacy") == 1

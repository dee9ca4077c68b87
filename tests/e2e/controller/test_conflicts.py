"""One autoscaler per target: a second policy, or an HPA, on the same target never acts."""

from __future__ import annotations

import time
from typing import Any

import kubernetes

from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import StartOperator


def test_second_policy_on_a_target_is_a_conflict_and_never_acts(
    hub_api: Any,
    hub_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
    load_exporter: LoadExporter,
    series: str,
) -> None:
    ns = hub_namespace
    h.create_deployment(hub_api, ns, "shared", replicas=2)
    load_exporter.set(series, 2)
    load_exporter.set(f"{series}-rival", 9)
    first = h.policy_body(
        "first", "shared", query=h.demand_query(series), prometheus_url=prometheus.url
    )
    h.create_policy(hub_api, ns, first)
    time.sleep(1.1)  # creationTimestamp has one-second resolution; "first" must be older
    rival = h.policy_body(
        "rival", "shared", query=h.demand_query(f"{series}-rival"), prometheus_url=prometheus.url
    )
    h.create_policy(hub_api, ns, rival)
    start_operator(ns).wait_ready()

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
    load_exporter.set(series, 3)
    h.wait_replicas(hub_api, ns, "shared", 3, timeout=40)


def test_a_horizontal_pod_autoscaler_on_the_target_is_a_conflict(
    hub_api: Any,
    hub_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
    load_exporter: LoadExporter,
    series: str,
) -> None:
    ns = hub_namespace
    h.create_deployment(hub_api, ns, "legacy", replicas=1)
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
    load_exporter.set(series, 6)
    h.create_policy(
        hub_api,
        ns,
        h.policy_body(
            "legacy", "legacy", query=h.demand_query(series), prometheus_url=prometheus.url
        ),
    )
    start_operator(ns).wait_ready()
    h.wait_phase(hub_api, ns, "legacy", "Error")
    conflict = h.condition(hub_api, ns, "legacy", "Conflict")
    assert conflict["status"] == "True"
    assert "HorizontalPodAutoscaler legacy-hpa" in conflict["message"]
    assert h.replicas(hub_api, ns, "legacy") == 1

"""Objects the launcher creates: kwok nodes and the metrics.k8s.io registration."""

from __future__ import annotations

from typing import Any

import pytest

from hack.localcluster import resources


def test_fake_node_is_taken_by_kwok_and_tells_metrics_server_where_to_scrape() -> None:
    node = resources.fake_node(3)
    annotations = node["metadata"]["annotations"]

    assert node["metadata"]["name"] == "kwok-node-3"
    assert annotations["kwok.x-k8s.io/node"] == "fake"
    assert annotations["metrics.k8s.io/resource-metrics-path"] == (
        "/metrics/nodes/kwok-node-3/metrics/resource"
    )
    assert "taints" not in node.get("spec", {})
    assert node["status"]["allocatable"]["cpu"] == resources.NODE_CPU


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "MemoryPressure", "status": "True"}], False),
        (None, False),
    ],
)
def test_node_is_ready_only_with_a_true_ready_condition(conditions: Any, ready: bool) -> None:
    assert resources.node_is_ready({"status": {"conditions": conditions}}) is ready


def test_api_service_points_at_the_metrics_server_port() -> None:
    service = resources.metrics_api_service(23456)

    assert service["metadata"]["name"] == resources.METRICS_API_SERVICE
    assert service["spec"]["service"]["port"] == 23456
    assert service["spec"]["group"] == "metrics.k8s.io"
    assert resources.metrics_service()["spec"]["externalName"] == "127.0.0.1"


def test_api_service_availability_reads_its_condition() -> None:
    available = {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    missing = {"status": {"conditions": [{"type": "Available", "status": "False"}]}}

    assert resources.api_service_available(available)
    assert not resources.api_service_available(missing)
    assert not resources.api_service_available({})

"""Objects the launcher creates in each cluster: kwok's fake nodes and the registration of
metrics-server as the aggregated metrics.k8s.io API (pure: plain dicts)."""

from __future__ import annotations

from typing import Any

from hack.localcluster.args import FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE

NODE_CPU = "32"
NODE_MEMORY = "256Gi"
NODE_PODS = "110"
METRICS_API_SERVICE = "v1beta1.metrics.k8s.io"


def node_name(index: int) -> str:
    return f"kwok-node-{index}"


def fake_node(index: int) -> dict[str, Any]:
    """A Node kwok takes over: it sets the node Ready and runs the pods scheduled onto it.

    No taint, so ordinary Deployments schedule onto it. The metrics path annotation tells
    metrics-server where kwok serves this node's kubelet-style resource metrics.
    """
    name = node_name(index)
    capacity = {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                FAKE_NODE_ANNOTATION: FAKE_NODE_VALUE,
                "node.alpha.kubernetes.io/ttl": "0",
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
            },
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def node_is_ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def metrics_service() -> dict[str, Any]:
    """An ExternalName Service pointing the aggregator at the host, where metrics-server runs."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
    }


def metrics_api_service(port: int) -> dict[str, Any]:
    """The APIService that makes the API server proxy metrics.k8s.io to metrics-server.

    metrics-server's certificate is the cluster's serving certificate, but the aggregator
    would check it against the name `metrics-server.kube-system.svc`, so TLS is not verified
    (loopback only).
    """
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": METRICS_API_SERVICE},
        "spec": {
            "service": {"name": "metrics-server", "namespace": "kube-system", "port": port},
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


def api_service_available(api_service: dict[str, Any]) -> bool:
    conditions = api_service.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)

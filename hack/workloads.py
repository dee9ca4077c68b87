"""Workload manifests for the e2e tests and the demo: pods that kwok runs on fake nodes."""

from __future__ import annotations

from typing import Any


def deployment(
    name: str,
    replicas: int,
    *,
    cpu: str = "500m",
    memory: str | None = None,
    cpu_usage: str | None = None,
) -> dict[str, Any]:
    """A Deployment of `replicas` pods labelled app=<name>, each requesting `cpu` (and
    `memory`); with `cpu_usage`, kwok reports that much CPU per pod to metrics.k8s.io.

    The image is never pulled (kwok's nodes only pretend to run pods); the CPU request is what
    metrics.k8s.io utilization is measured against.
    """
    labels = {"app": name}
    requests = {"cpu": cpu} if memory is None else {"cpu": cpu, "memory": memory}
    annotations = {"kwok.x-k8s.io/usage-cpu": cpu_usage} if cpu_usage else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.invalid/{name}:1",
                            "resources": {"requests": requests},
                        }
                    ]
                },
            },
        },
    }

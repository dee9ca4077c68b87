"""The scale benchmark's fleet: N kwok Deployments split over hub and member, and N
ScalingPolicies in the hub, each on its own Prometheus series (hack/scaleload.py).

Policy i is `p<i>` in namespace `bench-<i mod NAMESPACES>` of the hub; odd i target the
member cluster (namespace sameness: the same namespace name there), even i the hub. Builders
are pure; `create` sends them with a few threads (the API servers take them in parallel).
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Iterable
from typing import Any

import kubernetes

from api.v1 import groupversion_info as gv
from hack import scaleload, workloads

NAMESPACES = 10
INTERVAL = 15  # seconds, the policies' evaluationInterval
OPERATOR_NAMESPACE = "nimbusguard-system"


def namespace(index: int) -> str:
    return f"bench-{index % NAMESPACES:02d}"


def on_member(index: int) -> bool:
    return index % 2 == 1


def policy(index: int, prometheus_url: str, *, interval: int = INTERVAL) -> dict[str, Any]:
    """ScalingPolicy `index`: an AverageValue target on its own series, 1-5 replicas."""
    target: dict[str, Any] = {"kind": "Deployment", "name": scaleload.series_name(index)}
    if on_member(index):
        target["cluster"] = "member"
    return {
        "apiVersion": gv.API_VERSION,
        "kind": gv.KIND,
        "metadata": {"name": scaleload.series_name(index), "namespace": namespace(index)},
        "spec": {
            "target": target,
            "scaling": {
                "minReplicas": 1,
                "maxReplicas": 5,
                "cooldownPeriod": 60,
                "evaluationInterval": interval,
            },
            "metrics": {
                "prometheus": {
                    "serverAddress": prometheus_url,
                    "query": scaleload.query(index),
                    "targetValue": scaleload.TARGET_VALUE,
                    "metricType": "AverageValue",
                }
            },
        },
    }


def deployment(index: int) -> dict[str, Any]:
    """The target of policy `index`: one pod on a kwok node (small requests, many per node)."""
    return workloads.deployment(scaleload.series_name(index), 1, cpu="10m", memory="16Mi")


def pods_per_cluster(n: int) -> int:
    """Pods at the start (one per Deployment), in the busier cluster."""
    return (n + 1) // 2


def _parallel(calls: Iterable[Callable[[], Any]], threads: int = 6) -> None:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def _ignore_exists(call: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            call()
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise

    return run


def create_namespaces(api: Any, names: Iterable[str]) -> None:
    core: Any = kubernetes.client.CoreV1Api(api)
    _parallel(
        _ignore_exists(functools.partial(core.create_namespace, {"metadata": {"name": name}}))
        for name in names
    )


def create(hub: Any, member: Any, n: int, prometheus_url: str) -> None:
    """Namespaces in both clusters, then the N Deployments, then the N policies."""
    names = sorted({namespace(i) for i in range(n)})
    create_namespaces(hub, [*names, OPERATOR_NAMESPACE])
    create_namespaces(member, names)
    apps: dict[bool, Any] = {
        False: kubernetes.client.AppsV1Api(hub),
        True: kubernetes.client.AppsV1Api(member),
    }
    _parallel(
        _ignore_exists(
            functools.partial(
                apps[on_member(i)].create_namespaced_deployment, namespace(i), deployment(i)
            )
        )
        for i in range(n)
    )
    custom: Any = kubernetes.client.CustomObjectsApi(hub)
    _parallel(
        _ignore_exists(
            functools.partial(
                custom.create_namespaced_custom_object,
                gv.GROUP,
                gv.VERSION,
                namespace(i),
                gv.PLURAL,
                policy(i, prometheus_url),
            )
        )
        for i in range(n)
    )

"""Objects and polls the controller e2e tests share."""

from __future__ import annotations

import itertools
import time
from typing import Any

import kubernetes

from hack import workloads
from tests.e2e import support

GROUP, VERSION, PLURAL = "nimbusguard.io", "v1", "scalingpolicies"


def create_deployment(api: Any, namespace: str, name: str, replicas: int) -> None:
    support.apps_v1(api).create_namespaced_deployment(
        namespace, workloads.deployment(name, replicas)
    )


def replicas(api: Any, namespace: str, name: str) -> int:
    dep = support.apps_v1(api).read_namespaced_deployment(name, namespace)
    return int(dep.spec.replicas)


def ready_replicas(api: Any, namespace: str, name: str) -> int:
    dep = support.apps_v1(api).read_namespaced_deployment(name, namespace)
    return int(dep.status.ready_replicas or 0)


def policy_body(
    name: str,
    target: str,
    *,
    query: str | None = None,
    prometheus_url: str | None = None,
    cluster: str | None = None,
    target_namespace: str | None = None,
    min_replicas: int = 1,
    max_replicas: int = 10,
    cooldown: int = 10,
    interval: int = 5,
    paused: bool = False,
    **scaling: Any,
) -> dict[str, Any]:
    target_ref: dict[str, Any] = {"kind": "Deployment", "name": target}
    if cluster:
        target_ref["cluster"] = cluster
    if target_namespace:
        target_ref["namespace"] = target_namespace
    metrics: dict[str, Any] = {}
    if query is not None:
        metrics["prometheus"] = {
            "serverAddress": prometheus_url or "http://127.0.0.1:9",
            "query": query,
            "targetValue": 1,
            "metricType": "AverageValue",
            "timeoutSeconds": 2,
        }
    else:
        metrics["cpu"] = {"targetUtilization": 60}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ScalingPolicy",
        "metadata": {"name": name},
        "spec": {
            "target": target_ref,
            "scaling": {
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "cooldownPeriod": cooldown,
                "evaluationInterval": interval,
                **scaling,
            },
            "metrics": metrics,
            "paused": paused,
        },
    }


def demand_query(series: str) -> str:
    return f'sum(e2e_demand{{series="{series}"}})'


def create_policy(api: Any, namespace: str, body: dict[str, Any]) -> None:
    support.custom_objects(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )


def patch_policy(api: Any, namespace: str, name: str, patch: dict[str, Any]) -> None:
    support.custom_objects(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, patch
    )


def get_policy(api: Any, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = support.custom_objects(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return obj


def status(api: Any, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = get_policy(api, namespace, name).get("status") or {}
    return result


def condition(api: Any, namespace: str, name: str, type_: str) -> dict[str, Any]:
    for cond in status(api, namespace, name).get("conditions", []):
        if cond["type"] == type_:
            result: dict[str, Any] = cond
            return result
    return {}


def wait_phase(api: Any, namespace: str, name: str, phase: str, timeout: float = 60) -> None:
    support.wait_until(
        lambda: status(api, namespace, name).get("phase") == phase,
        timeout=timeout,
        what=f"policy {namespace}/{name} in phase {phase} "
        f"(now {status(api, namespace, name).get('phase')})",
    )


def wait_condition(
    api: Any,
    namespace: str,
    name: str,
    type_: str,
    *,
    status_: str | None = None,
    reason: str | None = None,
    timeout: float = 60,
) -> None:
    """Poll until the policy's `type_` condition has the given status and/or reason."""
    wanted = {k: v for k, v in (("status", status_), ("reason", reason)) if v is not None}
    assert wanted, "say which status or reason to wait for"
    support.wait_until(
        lambda: all(condition(api, namespace, name, type_).get(k) == v for k, v in wanted.items()),
        timeout=timeout,
        what=f"condition {type_} {wanted} on policy {namespace}/{name}",
    )


def wait_replicas(api: Any, namespace: str, name: str, count: int, timeout: float = 60) -> None:
    support.wait_until(
        lambda: replicas(api, namespace, name) == count,
        timeout=timeout,
        what=f"{namespace}/{name} at {count} replicas (now {replicas(api, namespace, name)})",
    )


def wait_ready_replicas(
    api: Any, namespace: str, name: str, count: int, timeout: float = 90
) -> None:
    support.wait_until(
        lambda: ready_replicas(api, namespace, name) == count,
        timeout=timeout,
        what=f"{namespace}/{name} with {count} ready replicas",
    )


def events(api: Any, namespace: str, name: str) -> list[Any]:
    listed = support.core_v1(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=ScalingPolicy"
    )
    return list(listed.items)


def event_reasons(api: Any, namespace: str, name: str) -> set[str]:
    return {e.reason for e in events(api, namespace, name)}


def exists(api: Any, namespace: str, name: str) -> bool:
    try:
        get_policy(api, namespace, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def lease_holder(api: Any, namespace: str, name: str = "nimbusguard-operator") -> str | None:
    """The holderIdentity of Lease `namespace/name`, None when it does not exist."""
    try:
        lease: Any = kubernetes.client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    holder: str | None = lease.spec.holder_identity
    return holder


class ReplicaRecorder:
    """Polls a Deployment's replicas and records when they changed (for cooldown checks)."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        self.api, self.namespace, self.name = api, namespace, name
        self.changes: list[tuple[float, int]] = [(time.monotonic(), self.current())]

    def current(self) -> int:
        return replicas(self.api, self.namespace, self.name)

    def poll(self) -> int:
        now = self.current()
        if now != self.changes[-1][1]:
            self.changes.append((time.monotonic(), now))
        return now

    def gaps(self) -> list[float]:
        times = [t for t, _ in self.changes[1:]]
        return [b - a for a, b in itertools.pairwise(times)]

"""Pod CPU from metrics.k8s.io against the pods' CPU requests, with the HPA's semantics.

Utilization = Σ usage ÷ Σ requests over the target's pods that are Running, Ready, not being
deleted, and have a metrics sample. A pod without a CPU request makes utilization undefined
(as for the HPA): that is an error naming the pod, not a guess.
"""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube, sources, workloads

_SUFFIX = {"n": decimal.Decimal("1e-9"), "u": decimal.Decimal("1e-6"), "m": decimal.Decimal("1e-3")}


def parse_cpu(quantity: str) -> float:
    """Cores in a CPU quantity ("250m", "1", "1.5", "123456n"); ValueError if malformed."""
    text = str(quantity).strip()
    scale = decimal.Decimal(1)
    if text and text[-1] in _SUFFIX:
        scale = _SUFFIX[text[-1]]
        text = text[:-1]
    try:
        return float(decimal.Decimal(text) * scale)
    except decimal.InvalidOperation as exc:
        raise ValueError(f"not a CPU quantity: {quantity!r}") from exc


def _ready(pod: Any) -> bool:
    status = pod.status
    if pod.metadata.deletion_timestamp is not None or status is None:
        return False
    if status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])


def utilization(pods: list[Any], pod_metrics: list[dict[str, Any]]) -> tuple[float, int]:
    """CPU utilization in percent of requests, and how many pods it covers (pure)."""
    usage_by_pod: dict[str, float] = {}
    for item in pod_metrics:
        name = (item.get("metadata") or {}).get("name")
        containers = item.get("containers") or []
        used = [((c or {}).get("usage") or {}).get("cpu") for c in containers]
        if name is None or not used or None in used:
            continue  # a sample without usage is no sample: the pod is not counted
        usage_by_pod[name] = sum(parse_cpu(str(c)) for c in used)
    usage = requests = 0.0
    counted = 0
    for pod in pods:
        if not _ready(pod) or pod.metadata.name not in usage_by_pod:
            continue
        pod_request = 0.0
        for container in pod.spec.containers:
            res = container.resources.requests if container.resources else None
            cpu = (res or {}).get("cpu")
            if cpu is None:
                raise errors.MetricError(
                    f"container {container.name!r} of pod {pod.metadata.name} has no CPU request; "
                    "CPU utilization is measured against requests"
                )
            pod_request += parse_cpu(cpu)
        usage += usage_by_pod[pod.metadata.name]
        requests += pod_request
        counted += 1
    if counted == 0:
        raise errors.MetricError(
            "no ready pod of the target has a CPU sample in metrics.k8s.io yet"
        )
    if requests <= 0:
        raise errors.MetricError("the target's pods request no CPU")
    return 100.0 * usage / requests, counted


@dataclasses.dataclass
class CpuSource:
    """One policy's CPU metric, read in the target's cluster."""

    api: k8s.ApiClient
    namespace: str
    target_utilization: int
    cluster: str | None
    name: str = "cpu"

    async def read(self, target: workloads.TargetState) -> sources.Reading:
        if not target.selector:
            raise errors.MetricError("the target has no pod selector")
        core = k8s.CoreV1Api(self.api)
        custom = k8s.CustomObjectsApi(self.api)
        pods: Any = await kube.call(
            core.list_namespaced_pod,
            self.namespace,
            label_selector=target.selector,
            cluster=self.cluster,
        )
        try:
            metrics: Any = await kube.call(
                custom.list_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                self.namespace,
                "pods",
                label_selector=target.selector,
                cluster=self.cluster,
            )
        except errors.ApiError as exc:
            raise errors.MetricError(f"metrics.k8s.io is not available: {exc.message}") from exc
        except errors.ClusterUnreachableError as exc:
            raise errors.MetricError(str(exc)) from exc
        percent, counted = utilization(list(pods.items or []), list(metrics.get("items") or []))
        return sources.Reading(
            source=self.name,
            value=percent,
            utilization=percent / self.target_utilization,
            detail=(
                f"CPU {percent:.0f}% of requests over {counted} ready pods against target "
                f"{self.target_utilization}%"
            ),
        )

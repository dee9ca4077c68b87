"""Read and scale the target workload (Deployment or StatefulSet) through the API server.

Reads take the workload object itself (one call gives spec replicas, ready replicas and the
selector); writes go through the scale subresource, the generic interface every autoscaler
uses, with an absolute replica count so a repeated write is harmless.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube

FIELD_MANAGER = "nimbusguard"


@dataclasses.dataclass(frozen=True)
class TargetRef:
    """Where a target lives; `cluster` None is the hub."""

    kind: str
    name: str
    namespace: str
    cluster: str | None = None

    def describe(self) -> str:
        where = f" in cluster {self.cluster!r}" if self.cluster else ""
        return f"{self.kind} {self.namespace}/{self.name}{where}"


@dataclasses.dataclass(frozen=True)
class TargetState:
    """What one read of the target tells."""

    replicas: int  # spec.replicas: what the scale subresource says now
    ready_replicas: int
    total_replicas: int  # pods that exist (status.replicas), ready or not
    selector: str  # label selector of its pods, for metrics
    generation_observed: bool  # the workload controller has seen the latest spec


SUPPORTED_KINDS = ("Deployment", "StatefulSet")


def _selector(label_selector: Any) -> str:
    if label_selector is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((label_selector.match_labels or {}).items())]
    for expr in label_selector.match_expressions or []:
        values = ",".join(expr.values or [])
        op = expr.operator
        if op == "In":
            parts.append(f"{expr.key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{expr.key} notin ({values})")
        elif op == "Exists":
            parts.append(expr.key)
        elif op == "DoesNotExist":
            parts.append(f"!{expr.key}")
    return ",".join(parts)


async def read(api: k8s.ApiClient, ref: TargetRef) -> TargetState:
    """The target's replicas and readiness. Raises ApiError (404 = missing, 403 = RBAC)."""
    apps = k8s.AppsV1Api(api)
    if ref.kind == "Deployment":
        obj: Any = await kube.call(
            apps.read_namespaced_deployment,
            ref.name,
            ref.namespace,
            timeout=kube.READ_TIMEOUT,
            cluster=ref.cluster,
        )
    elif ref.kind == "StatefulSet":
        obj = await kube.call(
            apps.read_namespaced_stateful_set,
            ref.name,
            ref.namespace,
            timeout=kube.READ_TIMEOUT,
            cluster=ref.cluster,
        )
    else:  # the schema's enum makes this unreachable for admitted objects
        raise errors.ClientError(f"kind {ref.kind!r} is not supported", reason="UnsupportedKind")
    spec, status, meta = obj.spec, obj.status, obj.metadata
    replicas = spec.replicas if spec.replicas is not None else 1
    observed = (
        status is not None
        and status.observed_generation is not None
        and meta.generation is not None
        and status.observed_generation >= meta.generation
    )
    return TargetState(
        replicas=replicas,
        ready_replicas=(status.ready_replicas or 0) if status else 0,
        total_replicas=(status.replicas or 0) if status else 0,
        selector=_selector(spec.selector),
        generation_observed=observed,
    )


async def scale(api: k8s.ApiClient, ref: TargetRef, replicas: int) -> int:
    """Set the target's replicas through its scale subresource; returns what the server set."""
    apps = k8s.AppsV1Api(api)
    body = {"spec": {"replicas": replicas}}
    method = (
        apps.patch_namespaced_deployment_scale
        if ref.kind == "Deployment"
        else apps.patch_namespaced_stateful_set_scale
    )
    result: Any = await kube.call(
        method, ref.name, ref.namespace, body, field_manager=FIELD_MANAGER, cluster=ref.cluster
    )
    set_to: int = result.spec.replicas if result.spec and result.spec.replicas is not None else 0
    return set_to


@dataclasses.dataclass(frozen=True)
class HpaTarget:
    """What one HorizontalPodAutoscaler scales."""

    hpa: str
    kind: str
    name: str
    group: str  # "" for a scaleTargetRef without a group

    def scales(self, ref: TargetRef) -> bool:
        return self.kind == ref.kind and self.name == ref.name and self.group in ("apps", "")


async def hpa_targets(api: k8s.ApiClient, namespace: str, cluster: str | None) -> list[HpaTarget]:
    """The HorizontalPodAutoscalers of a namespace and what each scales (one list call, which
    the caller may share between every target of the namespace)."""
    autoscaling = k8s.AutoscalingV2Api(api)
    result: Any = await kube.call(
        autoscaling.list_namespaced_horizontal_pod_autoscaler, namespace, cluster=cluster
    )
    return [
        HpaTarget(
            hpa=hpa.metadata.name,
            kind=hpa.spec.scale_target_ref.kind,
            name=hpa.spec.scale_target_ref.name,
            group=(hpa.spec.scale_target_ref.api_version or "").split("/")[0],
        )
        for hpa in result.items or []
    ]


def competing_hpas(targets: list[HpaTarget], ref: TargetRef) -> list[str]:
    """Names of the HorizontalPodAutoscalers among `targets` that also scale `ref`."""
    return sorted(t.hpa for t in targets if t.scales(ref))

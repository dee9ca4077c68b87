"""Read and scale the target workload (Deployment or StatefulSet) through the API server.

Reads take the workload object itself (one call gives spec replicas, ready replicas and the
selector); writes go through the scale subresource, the generic interface every autoscaler
uses, with an absolute replica count so a repeated write is harmless.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

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
    """A LabelSelector (JSON) as the `key=value,key in (a,b)` string label queries take."""
    if not isinstance(label_selector, dict):
        return ""
    labels = label_selector.get("matchLabels") or {}
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    for expr in label_selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = ",".join(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _count(section: dict[str, Any], field: str, where: str, default: int | None = 0) -> int | None:
    """An integer field of the answer; a wrong type is the server's fault, said clearly."""
    value = section.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.ClientError(
            f"{where}: {field} is {value!r}, not an integer", reason="InvalidResponse"
        )
    return value


async def read(api: k8s.ApiClient, ref: TargetRef) -> TargetState:
    """The target's replicas and readiness. Raises ApiError (404 = missing, 403 = RBAC).

    Read as plain JSON (kube.call_json): an evaluation needs five fields of the object, and
    the client's models of a whole Deployment were most of the cost of reading it."""
    apps = k8s.AppsV1Api(api)
    if ref.kind == "Deployment":
        method = apps.read_namespaced_deployment_without_preload_content
    elif ref.kind == "StatefulSet":
        method = apps.read_namespaced_stateful_set_without_preload_content
    else:  # the schema's enum makes this unreachable for admitted objects
        raise errors.ClientError(f"kind {ref.kind!r} is not supported", reason="UnsupportedKind")
    obj = await kube.call_json(
        method, ref.name, ref.namespace, timeout=kube.READ_TIMEOUT, cluster=ref.cluster
    )
    return state_of(obj, ref.describe())


def state_of(obj: dict[str, Any], where: str) -> TargetState:
    """What an evaluation needs of a workload object (from a GET, a LIST or a watch event).
    Raises ClientError (InvalidResponse) when a field has the wrong type."""
    spec, status, meta = (_section(obj, key, where) for key in ("spec", "status", "metadata"))
    replicas = _count(spec, "replicas", where, default=1)
    generation = _count(meta, "generation", where, default=None)
    observed_generation = _count(status, "observedGeneration", where, default=None)
    observed = (
        observed_generation is not None
        and generation is not None
        and observed_generation >= generation
    )
    return TargetState(
        replicas=replicas or 0,
        ready_replicas=_count(status, "readyReplicas", where) or 0,
        total_replicas=_count(status, "replicas", where) or 0,
        selector=_selector(spec.get("selector")),
        generation_observed=observed,
    )


def _section(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.ClientError(f"{where}: {key} is not an object", reason="InvalidResponse")
    return value


@dataclasses.dataclass(frozen=True)
class Scaled:
    """The scale subresource's answer to a write."""

    replicas: int  # what the server set
    # The workload's resourceVersion after the write: a watched view of the target is stale
    # until it has seen this version (target_cache.TargetCache.scaled).
    resource_version: str | None


async def scale(api: k8s.ApiClient, ref: TargetRef, replicas: int) -> Scaled:
    """Set the target's replicas through its scale subresource."""
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
    version = result.metadata.resource_version if result.metadata else None
    return Scaled(set_to, version)


class Reader(Protocol):
    """Where an evaluation reads its target: one GET each (`GETS`), or a watched view
    (`target_cache.TargetCache`) told of this process's own writes."""

    async def read(self, api: k8s.ApiClient, ref: TargetRef) -> TargetState: ...

    def scaled(self, ref: TargetRef, result: Scaled) -> None: ...

    def unanswered(self, ref: TargetRef) -> None: ...


class Gets:
    """One GET per read; each told to `on_read` as "get" (/metrics)."""

    def __init__(self, on_read: Callable[[str], None] = lambda _: None) -> None:
        self.on_read = on_read

    async def read(self, api: k8s.ApiClient, ref: TargetRef) -> TargetState:
        self.on_read("get")
        return await read(api, ref)

    def scaled(self, ref: TargetRef, result: Scaled) -> None:
        pass

    def unanswered(self, ref: TargetRef) -> None:
        pass


GETS: Reader = Gets()


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

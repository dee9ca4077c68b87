"""Reads and status writes of ScalingPolicy objects in the hub."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as k8s

from api.v1 import groupversion_info as gv
from nimbusguard.clients import kube

FIELD_MANAGER = "nimbusguard"


async def get(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    custom = k8s.CustomObjectsApi(api)
    obj: Any = await kube.call(
        custom.get_namespaced_custom_object, gv.GROUP, gv.VERSION, namespace, gv.PLURAL, name
    )
    result: dict[str, Any] = obj
    return result


async def patch_status(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    status: dict[str, Any],
    *,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """Merge-patch `.status`; with `resource_version` the write fails with 409 if the object
    changed since it was read (optimistic concurrency for the scale-intent record)."""
    custom = k8s.CustomObjectsApi(api)
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    obj: Any = await kube.call(
        custom.patch_namespaced_custom_object_status,
        gv.GROUP,
        gv.VERSION,
        namespace,
        gv.PLURAL,
        name,
        body,
        field_manager=FIELD_MANAGER,
    )
    result: dict[str, Any] = obj
    return result

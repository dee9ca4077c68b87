"""Reads and status writes of ScalingPolicy objects in the hub."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as k8s

from api.v1 import groupversion_info as gv
from nimbusguard.clients import kube

FIELD_MANAGER = "nimbusguard"
LIST_TIMEOUT = 30.0


async def get(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    custom = k8s.CustomObjectsApi(api)
    obj: Any = await kube.call(
        custom.get_namespaced_custom_object, gv.GROUP, gv.VERSION, namespace, gv.PLURAL, name
    )
    result: dict[str, Any] = obj
    return result


async def list_uids(api: k8s.ApiClient, namespaces: tuple[str, ...] = ()) -> set[str]:
    """The uids of every ScalingPolicy now (in `namespaces`, or all): a quorum LIST, the
    truth a watch that relisted after a gap may have lost deletions from."""
    custom = k8s.CustomObjectsApi(api)
    found: list[Any] = []
    if namespaces:
        for namespace in namespaces:
            found.append(
                await kube.call(
                    custom.list_namespaced_custom_object,
                    gv.GROUP,
                    gv.VERSION,
                    namespace,
                    gv.PLURAL,
                    timeout=LIST_TIMEOUT,
                )
            )
    else:
        found.append(
            await kube.call(
                custom.list_cluster_custom_object,
                gv.GROUP,
                gv.VERSION,
                gv.PLURAL,
                timeout=LIST_TIMEOUT,
            )
        )
    return {str(item["metadata"]["uid"]) for page in found for item in (page.get("items") or [])}


async def patch_status(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    status: dict[str, Any],
    *,
    resource_version: str | None = None,
    uid: str | None = None,
    answer: bool = True,
) -> dict[str, Any]:
    """Merge-patch `.status`; with `resource_version` the write fails with 409 if the object
    changed since it was read (optimistic concurrency for the scale record); with `uid` it
    fails when the name now belongs to another object (a deleted and re-created policy).

    Returns the object as written; with `answer=False` an empty dict, and the answer (the
    whole policy, its managedFields included: about 16 KB) is not decoded at all."""
    custom = k8s.CustomObjectsApi(api)
    body: dict[str, Any] = {"status": status}
    preconditions = {"resourceVersion": resource_version, "uid": uid}
    if any(preconditions.values()):
        body["metadata"] = {k: v for k, v in preconditions.items() if v}
    return await kube.call_json(
        custom.patch_namespaced_custom_object_status_without_preload_content,
        gv.GROUP,
        gv.VERSION,
        namespace,
        gv.PLURAL,
        name,
        body,
        field_manager=FIELD_MANAGER,
        answer=answer,
    )

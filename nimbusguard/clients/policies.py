"""Reads and status writes of ScalingPolicy objects in the hub."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as k8s

from api.v1 import groupversion_info as gv
from nimbusguard.clients import errors, kube

FIELD_MANAGER = "nimbusguard"


async def get(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    custom = k8s.CustomObjectsApi(api)
    obj: Any = await kube.call(
        custom.get_namespaced_custom_object, gv.GROUP, gv.VERSION, namespace, gv.PLURAL, name
    )
    result: dict[str, Any] = obj
    return result


async def served(api: k8s.ApiClient) -> bool:
    """Whether the hub serves ScalingPolicies now (the CRD is installed and established):
    one discovery GET. False on a 404; other failures raise."""
    custom = k8s.CustomObjectsApi(api)
    try:
        found: Any = await kube.call(custom.get_api_resources, gv.GROUP, gv.VERSION)
    except errors.ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return any(r.name == gv.PLURAL for r in (found.resources or []))


# kopf's listings page as the sweep's do (controllers/handlers.py).
LIST_PAGE = kube.LIST_PAGE


async def list_uids(api: k8s.ApiClient, namespaces: tuple[str, ...] = ()) -> set[str]:
    """The uids of every ScalingPolicy now (in `namespaces`, or all): a quorum LIST (paged,
    one consistent snapshot per namespace), the truth a watch that relisted after a gap may
    have lost deletions from. Only metadata is asked for; an item without a uid fails the
    whole LIST (InvalidResponse), since a set missing a live policy would make the sweep stop
    that policy's evaluations."""
    custom = k8s.CustomObjectsApi(api)
    uids: set[str] = set()
    for namespace in namespaces or (None,):
        if namespace is None:
            pages = kube.metadata_pages(
                custom.list_cluster_custom_object_without_preload_content,
                gv.GROUP, gv.VERSION, gv.PLURAL, what="ScalingPolicies",
            )  # fmt: skip
        else:
            pages = kube.metadata_pages(
                custom.list_namespaced_custom_object_without_preload_content,
                gv.GROUP, gv.VERSION, namespace, gv.PLURAL, what="ScalingPolicies",
            )  # fmt: skip
        async for metas in pages:
            found = [meta.get("uid") for meta in metas]
            if not all(isinstance(uid, str) and uid for uid in found):
                raise errors.ClientError(
                    "a LIST of ScalingPolicies answered an item without a uid",
                    reason="InvalidResponse",
                )
            uids.update(str(uid) for uid in found)
    return uids


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

"""Reads and status writes of ScalingPolicy objects in the hub."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as k8s

from api.v1 import groupversion_info as gv
from nimbusguard.clients import errors, kube

FIELD_MANAGER = "nimbusguard"
LIST_TIMEOUT = 30.0


async def get(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    custom = k8s.CustomObjectsApi(api)
    obj: Any = await kube.call(
        custom.get_namespaced_custom_object, gv.GROUP, gv.VERSION, namespace, gv.PLURAL, name
    )
    result: dict[str, Any] = obj
    return result


# A LIST of metadata only (PartialObjectMetadataList), in pages: the uids are all it is for,
# and a full LIST of 1,000 policies is about 16 MB of JSON decoded at once every minute.
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
LIST_PAGE = 250


async def list_uids(api: k8s.ApiClient, namespaces: tuple[str, ...] = ()) -> set[str]:
    """The uids of every ScalingPolicy now (in `namespaces`, or all): a quorum LIST (paged,
    one consistent snapshot per namespace), the truth a watch that relisted after a gap may
    have lost deletions from. Only metadata is asked for."""
    custom = k8s.CustomObjectsApi(api)
    uids: set[str] = set()
    for namespace in namespaces or (None,):
        token: str | None = None
        while True:
            page_args: dict[str, Any] = {
                "limit": LIST_PAGE,
                "_continue": token,
                "_headers": {"Accept": _METADATA_ONLY},
                "timeout": LIST_TIMEOUT,
            }
            if namespace is None:
                page = await kube.call_json(
                    custom.list_cluster_custom_object_without_preload_content,
                    gv.GROUP,
                    gv.VERSION,
                    gv.PLURAL,
                    **page_args,
                )
            else:
                page = await kube.call_json(
                    custom.list_namespaced_custom_object_without_preload_content,
                    gv.GROUP,
                    gv.VERSION,
                    namespace,
                    gv.PLURAL,
                    **page_args,
                )
            uids |= _page_uids(page)
            meta = page.get("metadata")
            token = meta.get("continue") or None if isinstance(meta, dict) else None
            if token is not None and not isinstance(token, str):
                raise errors.ClientError(
                    "a LIST of ScalingPolicies answered a continue token that is not a string",
                    reason="InvalidResponse",
                )
            if token is None:
                break
    return uids


def _page_uids(page: dict[str, Any]) -> set[str]:
    """A page's uids; an item without one fails the whole LIST (InvalidResponse), since a
    set missing a live policy would make the sweep stop that policy's evaluations."""
    items = page.get("items") or []
    found = [_uid(item) for item in (items if isinstance(items, list) else [None])]
    if not all(isinstance(uid, str) and uid for uid in found):
        raise errors.ClientError(
            "a LIST of ScalingPolicies answered an item without a uid", reason="InvalidResponse"
        )
    return set(found)  # all non-empty strings, checked above


def _uid(item: Any) -> Any:
    """The item's uid, or None when the item or its metadata is not an object."""
    meta = item.get("metadata") if isinstance(item, dict) else None
    return meta.get("uid") if isinstance(meta, dict) else None


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

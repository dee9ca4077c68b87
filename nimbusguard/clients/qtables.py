"""Q-tables persisted in ConfigMaps, and warm-start tables read from tenants' namespaces.

A policy's own table lives in the operator's namespace under a name derived from the
policy's uid (`table_name`): tenants cannot write it, a deleted and re-created policy (new
uid) starts afresh, and no ConfigMap that happens to carry the right name in a tenant's
namespace is ever adopted. A policy cannot own an object in another namespace, so the
operator deletes its tables itself when the policy goes (`discard`). The Q-table is opaque
bytes here (the learner defines the format); it travels in `binaryData`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import configmaps, errors, kube

FIELD_MANAGER = "nimbusguard"
MAX_BYTES = 1024 * 1024 - 16 * 1024  # a ConfigMap must stay under 1 MiB with its metadata


@dataclasses.dataclass(frozen=True)
class Owner:
    api_version: str
    kind: str
    name: str
    uid: str


UID_LABEL = "nimbusguard.io/policy-uid"
POLICY_ANNOTATION = "nimbusguard.io/policy"


def table_name(policy_uid: str) -> str:
    """The ConfigMap, in the operator's namespace, that holds a policy's own Q-table."""
    return f"nimbusguard-qtable-{policy_uid}"


def legacy_name(policy_name: str) -> str:
    """Where releases before 0.2 kept a policy's table: `<name>-qtable` in its namespace."""
    return f"{policy_name[: 253 - len('-qtable')]}-qtable"


@dataclasses.dataclass(frozen=True)
class Stored:
    """A table as read: its bytes and the ConfigMap's resourceVersion they came with."""

    data: bytes
    version: str


async def load(
    api: k8s.ApiClient, namespace: str, name: str, key: str, *, owner_uid: str | None = None
) -> bytes | None:
    """The stored bytes, or None when the ConfigMap does not exist (or, with `owner_uid`, is
    not controlled by that object: someone else's is as good as none).

    A ConfigMap that exists but lacks the key, or holds undecodable data, raises
    errors.ClientError with reason QTableMissingKey / QTableUndecodable.
    """
    stored = await read(api, namespace, name, key, owner_uid=owner_uid)
    return None if stored is None else stored.data


async def read(
    api: k8s.ApiClient, namespace: str, name: str, key: str, *, owner_uid: str | None = None
) -> Stored | None:
    """`load`, with the resourceVersion the bytes were read at."""
    cm = await configmaps.read(api, namespace, name)
    if cm is None:
        return None
    if owner_uid is not None and not any(
        ref.uid == owner_uid and ref.controller for ref in cm.metadata.owner_references or []
    ):
        return None
    binary = cm.binary_data or {}
    if key not in binary:
        raise errors.ClientError(
            f"ConfigMap {namespace}/{name} has no binaryData key {key!r}", reason="QTableMissingKey"
        )
    try:
        data = base64.b64decode(binary[key], validate=True)
    except (ValueError, TypeError) as exc:
        raise errors.ClientError(
            f"ConfigMap {namespace}/{name} key {key!r} is not valid base64",
            reason="QTableUndecodable",
        ) from exc
    return Stored(data, str(cm.metadata.resource_version or ""))


async def versions(api: k8s.ApiClient, namespace: str, selector: str) -> dict[str, str]:
    """name → resourceVersion of every ConfigMap in `namespace` matching `selector`: which
    tables were written since they were read, without reading a single table."""
    core = k8s.CoreV1Api(api)
    found: dict[str, str] = {}
    async for metas in kube.metadata_pages(
        core.list_namespaced_config_map_without_preload_content,
        namespace,
        label_selector=selector,
        what="ConfigMaps",
    ):
        for meta in metas:
            name, version = meta.get("name"), meta.get("resourceVersion")
            if isinstance(name, str) and isinstance(version, str):
                found[name] = version
    return found


def _metadata(
    name: str, owner: Owner | None, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels, "annotations": annotations}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner.api_version,
                "kind": owner.kind,
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                # True would need update rights on the policy's finalizers; not worth it.
                "blockOwnerDeletion": False,
            }
        ]
    return meta


async def save(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    key: str,
    data: bytes,
    *,
    owner: Owner | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    exists: bool | None = None,
) -> None:
    """Create or replace the ConfigMap holding `data` under `key`. `exists`: whether the
    caller knows it exists; False creates it first (one request instead of a PATCH answered
    404 and a POST), and if it was created meanwhile (409) replaces it."""
    if len(data) > MAX_BYTES:
        raise errors.ClientError(
            f"the Q-table is {len(data)} bytes, more than a ConfigMap can hold",
            reason="QTableTooLarge",
        )
    core = k8s.CoreV1Api(api)
    body = {
        "metadata": _metadata(name, owner, labels, annotations or {}),
        "binaryData": {key: base64.b64encode(data).decode("ascii")},
    }

    async def patch() -> None:
        await kube.call(
            core.patch_namespaced_config_map, name, namespace, body, field_manager=FIELD_MANAGER
        )

    async def create() -> None:
        await kube.call(
            core.create_namespaced_config_map, namespace, body, field_manager=FIELD_MANAGER
        )

    first, then, missing = (create, patch, 409) if exists is False else (patch, create, 404)
    try:
        await first()
    except errors.ApiError as exc:
        if exc.status != missing:
            raise
        await then()


async def quarantine(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    *,
    owner: Owner | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> str:
    """Keep an unreadable Q-table under a new name (so nothing is lost); returns that name."""
    core = k8s.CoreV1Api(api)
    cm: Any = await kube.call(core.read_namespaced_config_map, name, namespace)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    new_name = f"{name[: 253 - 24]}-corrupt-{stamp}"
    marked = {**labels, "nimbusguard.io/quarantined": "true"}
    body: dict[str, Any] = {
        "metadata": _metadata(new_name, owner, marked, annotations or {}),
        "data": cm.data or {},
        "binaryData": cm.binary_data or {},
    }
    await kube.call(core.create_namespaced_config_map, namespace, body, field_manager=FIELD_MANAGER)
    return new_name


async def discard(api: k8s.ApiClient, namespace: str, policy_uid: str) -> int:
    """Delete every ConfigMap kept for a policy (its table, replaced and quarantined copies);
    how many went."""
    core = k8s.CoreV1Api(api)
    listed: Any = await kube.call(
        core.list_namespaced_config_map, namespace, label_selector=f"{UID_LABEL}={policy_uid}"
    )
    gone = 0
    for cm in listed.items or []:
        try:
            await kube.call(core.delete_namespaced_config_map, cm.metadata.name, namespace)
        except errors.ApiError as exc:
            if exc.status != 404:
                raise
        gone += 1
    return gone

"""Q-tables persisted in ConfigMaps owned by their ScalingPolicy.

The ConfigMap is garbage-collected with the policy (owner reference). The Q-table is opaque
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


def config_map_name(policy_name: str) -> str:
    """The ConfigMap that holds a policy's Q-table (≤ 253 characters)."""
    return f"{policy_name[: 253 - len('-qtable')]}-qtable"


async def load(api: k8s.ApiClient, namespace: str, name: str, key: str) -> bytes | None:
    """The stored bytes, or None when the ConfigMap does not exist.

    A ConfigMap that exists but lacks the key, or holds undecodable data, raises
    errors.ClientError with reason QTableMissingKey / QTableUndecodable.
    """
    cm = await configmaps.read(api, namespace, name)
    if cm is None:
        return None
    binary = cm.binary_data or {}
    if key not in binary:
        raise errors.ClientError(
            f"ConfigMap {namespace}/{name} has no binaryData key {key!r}", reason="QTableMissingKey"
        )
    try:
        return base64.b64decode(binary[key], validate=True)
    except (ValueError, TypeError) as exc:
        raise errors.ClientError(
            f"ConfigMap {namespace}/{name} key {key!r} is not valid base64",
            reason="QTableUndecodable",
        ) from exc


def _metadata(name: str, owner: Owner | None, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
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
) -> None:
    """Create or replace the ConfigMap holding `data` under `key`."""
    if len(data) > MAX_BYTES:
        raise errors.ClientError(
            f"the Q-table is {len(data)} bytes, more than a ConfigMap can hold",
            reason="QTableTooLarge",
        )
    core = k8s.CoreV1Api(api)
    body = {
        "metadata": _metadata(name, owner, labels),
        "binaryData": {key: base64.b64encode(data).decode("ascii")},
    }
    try:
        await kube.call(
            core.patch_namespaced_config_map, name, namespace, body, field_manager=FIELD_MANAGER
        )
    except errors.ApiError as exc:
        if exc.status != 404:
            raise
        await kube.call(
            core.create_namespaced_config_map, namespace, body, field_manager=FIELD_MANAGER
        )


async def quarantine(
    api: k8s.ApiClient, namespace: str, name: str, *, owner: Owner | None, labels: dict[str, str]
) -> str:
    """Keep an unreadable Q-table under a new name (so nothing is lost); returns that name."""
    core = k8s.CoreV1Api(api)
    cm: Any = await kube.call(core.read_namespaced_config_map, name, namespace)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    new_name = f"{name[: 253 - 24]}-corrupt-{stamp}"
    body: dict[str, Any] = {
        "metadata": _metadata(new_name, owner, {**labels, "nimbusguard.io/quarantined": "true"}),
        "data": cm.data or {},
        "binaryData": cm.binary_data or {},
    }
    await kube.call(core.create_namespaced_config_map, namespace, body, field_manager=FIELD_MANAGER)
    return new_name

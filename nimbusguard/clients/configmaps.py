"""Reading ConfigMaps: the operator's configuration in its own namespace, and Q-tables."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube


async def read(api: k8s.ApiClient, namespace: str, name: str) -> Any | None:
    """The ConfigMap, or None when it does not exist (other errors raise)."""
    core = k8s.CoreV1Api(api)
    try:
        return await kube.call(core.read_namespaced_config_map, name, namespace)
    except errors.ApiError as exc:
        if exc.status == 404:
            return None
        raise


async def read_data(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    """The ConfigMap's `data`, or None when it does not exist (other errors raise)."""
    cm = await read(api, namespace, name)
    if cm is None:
        return None
    return {str(k): str(v) for k, v in (cm.data or {}).items()}

"""The watched view of the targets against a real API server: reads come from one LIST and
WATCH, a change made by someone else reaches them, the operator's own scale is never read
stale, and a deleted target is the API server's own 404."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from nimbusguard.clients import errors, kube, target_cache, workloads
from tests.e2e import support
from tests.e2e.controller import helpers as h


async def test_reads_follow_the_api_server_without_a_get_each(
    e2e_clusters: support.E2EClusters, hub_api: Any, hub_namespace: str
) -> None:
    for name in ("web", "api"):
        h.create_deployment(hub_api, hub_namespace, name, 2)
    web = workloads.TargetRef("Deployment", "web", hub_namespace)
    api_ref = workloads.TargetRef("Deployment", "api", hub_namespace)
    client = await kube.new_hub_client(
        kube.HubConfig(kubeconfig=e2e_clusters.kubeconfig, context=e2e_clusters.hub_context)
    )
    cache = target_cache.TargetCache()
    try:
        assert (await cache.read(client, web)).replicas == 2
        for _ in range(20):
            assert (await cache.read(client, api_ref)).replicas == 2
        assert cache.reads == {"watch": 21}

        # Our own scale: the very next read says 5, whether the watch has it yet or not.
        scaled = await workloads.scale(client, web, 5)
        cache.scaled(web, scaled)
        assert scaled.replicas == 5 and scaled.resource_version
        assert (await cache.read(client, web)).replicas == 5

        # Someone else's scale reaches the reads through the watch.
        e2e_clusters.kubectl(
            e2e_clusters.hub_context, "scale", "deployment/api", "--replicas=3",
            "-n", hub_namespace,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while (await cache.read(client, api_ref)).replicas != 3:
            assert time.monotonic() < deadline, "the watch never delivered kubectl's scale"
            await asyncio.sleep(0.1)
        # At most the read right after our own write was a GET.
        assert cache.reads["get"] <= 1

        support.apps_v1(hub_api).delete_namespaced_deployment("web", hub_namespace)
        view = cache._views[(None, "Deployment", None)]
        deadline = time.monotonic() + 30
        while (hub_namespace, "web") in view.items:
            assert time.monotonic() < deadline, "the watch never delivered the deletion"
            await asyncio.sleep(0.1)
        with pytest.raises(errors.ApiError) as raised:
            await cache.read(client, web)
        assert raised.value.status == 404
    finally:
        await cache.close()
        await client.close()  # type: ignore[no-untyped-call]

"""The Leases have a connection pool of their own: with every connection of the hub client
busy (an evaluation burst against a slow API server), a renewal still goes out at once.

A real `kubernetes.aio` client from `kube.clients` against an HTTP server on 127.0.0.1 that
answers the Lease calls and holds every other request until the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import test_utils, web
from kubernetes.aio import client as k8s

from controllers import manager, observability, settings
from nimbusguard.clients import errors, kube, leases, loop_thread

SETTINGS = leases.LeaseSettings(
    name="lock", namespace="ns", identity="a", lease_duration=6.0, renew_deadline=4.0,
    retry_period=0.5,
)  # fmt: skip


class SlowHub:
    """Leases answer at once (404, then the created object); anything else hangs."""

    def __init__(self) -> None:
        self.hanging = 0
        self.expect = 0  # `full` is set once this many requests hang
        self.full = asyncio.Event()
        self.release = asyncio.Event()
        self.lease: dict[str, Any] | None = None
        app = web.Application()
        app.router.add_get("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", self.get)
        app.router.add_post("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self.create)
        app.router.add_route("*", "/{tail:.*}", self.hang)
        self.server = test_utils.TestServer(app, host="127.0.0.1")

    def holder(self) -> str | None:
        return None if self.lease is None else str(self.lease["spec"]["holderIdentity"])

    async def get(self, request: web.Request) -> web.Response:
        if self.lease is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(self.lease)

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.lease = {**body, "apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
        self.lease["metadata"]["resourceVersion"] = "1"
        return web.json_response(self.lease, status=201)

    async def hang(self, request: web.Request) -> web.Response:
        self.hanging += 1
        if self.hanging >= self.expect:
            self.full.set()
        await self.release.wait()
        return web.json_response({})


@pytest.fixture
async def hub() -> AsyncIterator[SlowHub]:
    server = SlowHub()
    await server.server.start_server()
    yield server
    server.release.set()
    await server.server.close()


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "hub", "cluster": {"server": server}}],
                "users": [{"name": "hub", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "hub"}}],
                "current-context": "hub",
            }
        )
    )
    return path


async def test_a_lease_renewal_is_not_queued_behind_a_full_hub_pool(
    hub: SlowHub, tmp_path: Path
) -> None:
    config = _kubeconfig(tmp_path / "kubeconfig", str(hub.server.make_url("")).rstrip("/"))
    async with kube.clients(kube.HubConfig(kubeconfig=config), None) as clients:
        pool = clients.hub.configuration.connection_pool_maxsize
        version = k8s.VersionApi(clients.hub)
        hub.expect = pool
        burst = [
            asyncio.create_task(kube.call(version.get_code, timeout=60.0)) for _ in range(pool)
        ]
        try:
            await asyncio.wait_for(hub.full.wait(), timeout=10.0)  # the hub pool is busy
            # The control: a Lease call on the hub's own pool waits for a connection.
            on_hub = leases.LeaderElector(clients.hub, SETTINGS)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(on_hub.acquire(), timeout=1.0)
            assert hub.holder() is None

            elector = leases.LeaderElector(clients.coordination, SETTINGS)
            await asyncio.wait_for(elector.acquire(), timeout=10.0)

            assert elector.may_act()
            assert hub.holder() == "a"
        finally:
            for task in burst:
                task.cancel()
            for task in burst:
                with contextlib.suppress(asyncio.CancelledError, errors.ClientError):
                    await task


async def test_the_operator_renews_its_leases_on_their_own_client(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    cfg = settings.parse(["--leader-elect", "--shards", "4"], environ={})
    async with kube.clients(kube.HubConfig(kubeconfig=config), None) as clients:
        assert clients.coordination is not clients.hub
        elector = manager._leader_elector(cfg, clients)
        shards = manager._shard_leases(cfg, clients, observability.Metrics())
        assert elector._coord.api_client is clients.coordination
        assert shards._coord.api_client is clients.coordination


async def test_the_lease_is_taken_while_the_operators_loop_is_busy(tmp_path: Path) -> None:
    """The Lease client lives on the Lease thread: an acquire goes out and is answered while
    this loop is held by CPU work, as an evaluation burst holds the operator's."""

    async def serve() -> SlowHub:
        started = SlowHub()
        await started.server.start_server()
        return started

    async with loop_thread.running("hub") as hub_thread:  # the API server, off this loop
        hub = await hub_thread.run(serve())
        config = _kubeconfig(tmp_path / "kubeconfig", str(hub.server.make_url("")).rstrip("/"))
        try:
            async with (
                loop_thread.running("leases") as lease_loop,
                kube.clients(
                    kube.HubConfig(kubeconfig=config), None, lease_loop=lease_loop
                ) as clients,
            ):
                elector = leases.LeaderElector(clients.coordination, SETTINGS)
                acquiring = asyncio.create_task(clients.in_lease_loop(elector.acquire()))
                await asyncio.sleep(0)  # handed to the Lease thread
                deadline = time.monotonic() + 10
                while not elector.may_act() and time.monotonic() < deadline:
                    sum(range(1000))  # never yields to this loop
                assert elector.may_act()
                assert hub.holder() == "a"
                assert not acquiring.done()  # this loop has not run since
                await acquiring
        finally:
            await hub_thread.run(hub.server.close())

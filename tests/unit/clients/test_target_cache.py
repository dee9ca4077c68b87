"""The watched view of the targets, through the real client against a local HTTP server that
lists and watches Deployments as an API server does (resourceVersions, pages, 410, 403)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube, target_cache, workloads

LIST_PATH = "/apis/apps/v1/deployments"


def deployment(name: str, replicas: int, namespace: str = "shop") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas},
    }


class ApiServer:
    """Deployments with resourceVersions; LIST in pages, WATCH from a version, GET one."""

    def __init__(self) -> None:
        self.version = 100
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.changed = asyncio.Condition()
        self.requests: list[str] = []  # "list", "watch", "get"
        self.refuse_list = False  # across namespaces
        self.refuse_namespaced = False
        self.oldest_watchable = 0  # a watch from an older version is answered 410 Gone
        self.hold_events = asyncio.Event()  # cleared: events wait before they are sent
        self.hold_events.set()
        self.silent = False  # a watch that sends nothing and never ends

    async def put(self, obj: dict[str, Any]) -> str:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        kind = "MODIFIED" if key in self.objects else "ADDED"
        self.objects[key] = obj
        self.history.append((self.version, kind, obj))
        async with self.changed:
            self.changed.notify_all()
        return str(self.version)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        parts = request.path.strip("/").split("/")
        # /apis/apps/v1/deployments, or /apis/apps/v1/namespaces/<ns>/deployments
        namespace = parts[4] if len(parts) == 6 else None
        if request.path == LIST_PATH or len(parts) == 6:
            what = "list" if namespace is None else "nslist"
            if self.refuse_list if namespace is None else self.refuse_namespaced:
                self.requests.append(what)
                return _status(403, "deployments is forbidden: cannot list")
            if query.get("watch") == "true":
                self.requests.append(what.replace("list", "watch"))
                return await self._watch(request, namespace)
            self.requests.append(what)
            return self._list(query, namespace)
        self.requests.append("get")
        _, _, _, _, namespace, _, name = parts
        obj = self.objects.get((namespace, name))
        if obj is None:
            return _status(404, f'deployments.apps "{name}" not found')
        return web.json_response(obj)

    def _list(self, query: Any, namespace: str | None) -> web.Response:
        names = sorted(k for k in self.objects if namespace in (None, k[0]))
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or len(names) or 1)
        page = names[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(self.version)}
        if start + limit < len(names):
            meta["continue"] = str(start + limit)
        return web.json_response({"metadata": meta, "items": [self.objects[k] for k in page]})

    async def _watch(self, request: web.Request, namespace: str | None) -> web.StreamResponse:
        since = int(request.query["resourceVersion"])
        if since < self.oldest_watchable:
            return _status(410, "too old resource version")
        response = web.StreamResponse()
        await response.prepare(request)
        deadline = time.monotonic() + float(request.query.get("timeoutSeconds", "60"))
        if self.silent:
            await asyncio.sleep(3600)
        sent = since
        while time.monotonic() < deadline:
            await self.hold_events.wait()
            for version, kind, obj in [h for h in self.history if h[0] > sent]:
                if namespace not in (None, obj["metadata"]["namespace"]):
                    continue
                line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                half = len(line) // 2  # an event split across chunks
                await response.write(line[:half])
                await response.write(line[half:])
                sent = version
            async with self.changed:
                try:
                    await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return response


def _status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "status": "Failure", "message": message, "code": code}
    return web.json_response(body, status=code)


@pytest.fixture
async def server() -> AsyncIterator[tuple[ApiServer, k8s.ApiClient]]:
    api_server = ApiServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api_server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{port}"))
    try:
        yield api_server, api
    finally:
        await api.close()  # type: ignore[no-untyped-call]
        await runner.cleanup()


@pytest.fixture
async def cache() -> AsyncIterator[target_cache.TargetCache]:
    made = target_cache.TargetCache()
    try:
        yield made
    finally:
        await made.close()


def ref(name: str) -> workloads.TargetRef:
    return workloads.TargetRef("Deployment", name, "shop")


async def until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


async def test_reads_come_from_one_paged_listing_not_a_get_each(
    server: tuple[ApiServer, k8s.ApiClient],
    cache: target_cache.TargetCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_server, api = server
    monkeypatch.setattr(kube, "LIST_PAGE", 2)
    for i in range(5):
        await api_server.put(deployment(f"web-{i}", i + 1))

    states = [await cache.read(api, ref(f"web-{i}")) for i in range(5)]

    assert [s.replicas for s in states] == [1, 2, 3, 4, 5]
    assert states[0].selector == "app=web-0"
    assert api_server.requests.count("list") == 3  # three pages of two
    assert "get" not in api_server.requests
    assert cache.reads == {"watch": 5}


async def test_a_change_on_the_server_reaches_the_next_read(
    server: tuple[ApiServer, k8s.ApiClient], cache: target_cache.TargetCache
) -> None:
    api_server, api = server
    await api_server.put(deployment("web", 2))
    assert (await cache.read(api, ref("web"))).replicas == 2

    await api_server.put(deployment("web", 7))

    async def seen() -> int:
        return (await cache.read(api, ref("web"))).replicas

    deadline = time.monotonic() + 5
    while await seen() != 7:
        assert time.monotonic() < deadline, "the watch never delivered the change"
        await asyncio.sleep(0.01)
    assert "get" not in api_server.requests


async def test_after_its_own_scale_a_read_gets_until_the_watch_has_the_write(
    server: tuple[ApiServer, k8s.ApiClient], cache: target_cache.TargetCache
) -> None:
    api_server, api = server
    await api_server.put(deployment("web", 2))
    await cache.read(api, ref("web"))
    await until(lambda: "watch" in api_server.requests, "the watch started")

    api_server.hold_events.clear()  # the write's event is late
    version = await api_server.put(deployment("web", 5))
    cache.scaled(ref("web"), workloads.Scaled(5, version))

    # The view still holds 2 replicas, but does not answer with it.
    assert (await cache.read(api, ref("web"))).replicas == 5
    assert api_server.requests.count("get") == 1

    api_server.hold_events.set()
    gets = api_server.requests.count("get")
    await until(lambda: not cache._views[(None, "Deployment", None)].unseen, "the write was seen")
    assert (await cache.read(api, ref("web"))).replicas == 5
    assert api_server.requests.count("get") == gets


async def test_an_unanswered_scale_reads_with_gets_for_a_while(
    server: tuple[ApiServer, k8s.ApiClient],
) -> None:
    api_server, api = server
    now = [1000.0]
    cache = target_cache.TargetCache(clock=lambda: now[0])
    try:
        await api_server.put(deployment("web", 2))
        await cache.read(api, ref("web"))
        cache.unanswered(ref("web"))

        await cache.read(api, ref("web"))
        assert api_server.requests.count("get") == 1
        now[0] += target_cache.UNANSWERED_WRITE_SECONDS + 1
        cache._views[(None, "Deployment", None)].heard = now[0]  # the server answers meanwhile
        await cache.read(api, ref("web"))
        assert api_server.requests.count("get") == 1
        assert cache.reads == {"watch": 2, "get": 1}
    finally:
        await cache.close()


async def test_a_target_the_view_does_not_hold_is_a_get_and_its_404(
    server: tuple[ApiServer, k8s.ApiClient], cache: target_cache.TargetCache
) -> None:
    api_server, api = server
    await api_server.put(deployment("web", 2))

    with pytest.raises(errors.ApiError) as raised:
        await cache.read(api, ref("gone"))

    assert raised.value.status == 404
    assert api_server.requests[:1] == ["list"] and api_server.requests[-1] == "get"


async def test_a_refused_listing_across_namespaces_watches_the_targets_namespace(
    server: tuple[ApiServer, k8s.ApiClient], cache: target_cache.TargetCache
) -> None:
    api_server, api = server
    api_server.refuse_list = True
    await api_server.put(deployment("web", 3))
    await api_server.put(deployment("other", 1, namespace="elsewhere"))

    assert (await cache.read(api, ref("web"))).replicas == 3
    await api_server.put(deployment("web", 4))
    await until(
        lambda: cache._views[(None, "Deployment", "shop")].items[("shop", "web")].replicas == 4,
        "the namespace's watch delivered the change",
    )
    assert (await cache.read(api, ref("web"))).replicas == 4

    assert api_server.requests[:2] == ["list", "nslist"]
    assert "get" not in api_server.requests
    assert set(cache._views[(None, "Deployment", "shop")].items) == {("shop", "web")}
    assert cache.reads == {"watch": 2}


async def test_refused_in_the_namespace_too_reads_are_gets(
    server: tuple[ApiServer, k8s.ApiClient], cache: target_cache.TargetCache
) -> None:
    api_server, api = server
    api_server.refuse_list = api_server.refuse_namespaced = True
    await api_server.put(deployment("web", 3))

    assert (await cache.read(api, ref("web"))).replicas == 3
    assert (await cache.read(api, ref("web"))).replicas == 3

    assert api_server.requests == ["list", "nslist", "get", "get"]
    assert cache.reads == {"get": 2}


async def test_namespace_views_are_bounded(
    server: tuple[ApiServer, k8s.ApiClient],
    cache: target_cache.TargetCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_server, api = server
    monkeypatch.setattr(target_cache.TargetCache, "NAMESPACE_VIEWS", 2)
    api_server.refuse_list = True
    for ns in ("a", "b", "c"):
        await api_server.put(deployment("web", 2, namespace=ns))

    for ns in ("a", "b", "c"):
        assert (await cache.read(api, workloads.TargetRef("Deployment", "web", ns))).replicas == 2

    assert api_server.requests.count("nslist") == 2
    assert cache.reads == {"watch": 2, "get": 1}


async def test_a_version_too_old_to_watch_means_a_new_listing(
    server: tuple[ApiServer, k8s.ApiClient],
    cache: target_cache.TargetCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_server, api = server
    monkeypatch.setattr(target_cache, "WATCH_SECONDS", 1)
    await api_server.put(deployment("web", 2))
    await cache.read(api, ref("web"))
    await until(lambda: "watch" in api_server.requests, "the first watch")

    # Compacted: the next watch (after the server ends this one) is answered 410 Gone.
    monkeypatch.setattr(target_cache, "BACKOFF", (0.05, 0.5))
    api_server.oldest_watchable = api_server.version + 100
    await until(lambda: api_server.requests.count("list") >= 3, "listings again", 10)
    # Listed again at once, then (410 again, right after a listing) only after a pause.
    assert api_server.requests.count("list") < 6
    api_server.oldest_watchable = 0
    await api_server.put(deployment("web", 9))
    await until(
        lambda: cache._views[(None, "Deployment", None)].items[("shop", "web")].replicas == 9, "9"
    )
    assert (await cache.read(api, ref("web"))).replicas == 9


async def test_a_silent_watch_is_a_dead_connection(
    server: tuple[ApiServer, k8s.ApiClient],
    cache: target_cache.TargetCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_server, api = server
    monkeypatch.setattr(target_cache, "WATCH_SECONDS", 1)
    monkeypatch.setattr(target_cache, "SILENCE_GRACE", 0.2)
    monkeypatch.setattr(target_cache, "BACKOFF", (0.05,))
    api_server.silent = True
    await api_server.put(deployment("web", 2))
    await cache.read(api, ref("web"))

    await until(lambda: api_server.requests.count("list") >= 2, "a new listing", 10)
    api_server.silent = False
    # While the view does not follow the server, reads are GETs.
    view = cache._views[(None, "Deployment", None)]
    view.live = False
    assert (await cache.read(api, ref("web"))).replicas == 2
    assert api_server.requests[-1] == "get"


async def test_a_view_nobody_reads_stops(
    server: tuple[ApiServer, k8s.ApiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    api_server, api = server
    monkeypatch.setattr(target_cache, "WATCH_SECONDS", 1)  # it stops when a watch ends
    now = [1000.0]
    cache = target_cache.TargetCache(clock=lambda: now[0])
    try:
        await api_server.put(deployment("web", 2))
        await cache.read(api, ref("web"))
        view = cache._views[(None, "Deployment", None)]
        now[0] += target_cache.UNUSED_SECONDS + 1
        await api_server.put(deployment("web", 3))

        await until(view.task.done, "the unused view stopped")
        assert (await cache.read(api, ref("web"))).replicas == 3  # a new view
        assert cache._views[(None, "Deployment", None)] is not view
    finally:
        await cache.close()


async def test_each_read_is_told_how_it_was_answered(
    server: tuple[ApiServer, k8s.ApiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    api_server, api = server
    told: list[str] = []
    cache = target_cache.TargetCache(on_read=told.append)
    try:
        await api_server.put(deployment("web", 2))
        await cache.read(api, ref("web"))
        with pytest.raises(errors.ApiError):
            await cache.read(api, ref("gone"))
    finally:
        await cache.close()
    assert told == ["watch", "get"]

    # --target-reads=get: every read a GET, each counted too.
    gets = workloads.Gets(on_read=told.append)
    assert (await gets.read(api, ref("web"))).replicas == 2
    assert told[-1] == "get" and api_server.requests[-1] == "get"


async def test_a_view_not_heard_from_lately_is_not_trusted(
    server: tuple[ApiServer, k8s.ApiClient],
) -> None:
    api_server, api = server
    now = [1000.0]
    cache = target_cache.TargetCache(clock=lambda: now[0])
    try:
        await api_server.put(deployment("web", 2))
        await cache.read(api, ref("web"))
        # A hung API server: no event, no end of the watch, for longer than the view vouches.
        now[0] += target_cache.VOUCH_SECONDS + 0.1
        await cache.read(api, ref("web"))
        assert cache.reads == {"watch": 1, "get": 1}

        # Heard from again (here: the server ends the watch on time): trusted again.
        await until(lambda: api_server.requests.count("watch") >= 2, "the next watch", 10)
        await cache.read(api, ref("web"))
        assert cache.reads == {"watch": 2, "get": 1}
    finally:
        await cache.close()

"""The Prometheus source: one finite sample or a clear error, never a silent zero."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nimbusguard.clients import endpoints, errors, prometheus, workloads


def _vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, v]} for v in values],
        },
    }


def test_one_vector_sample() -> None:
    assert prometheus.parse_query_response(_vector("42.5")) == 42.5


def test_scalar() -> None:
    payload = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}}
    assert prometheus.parse_query_response(payload) == 3.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_vector(), "returned 0 samples"),
        (_vector("1", "2"), "returned 2 samples"),
        (_vector("NaN"), "not a finite number"),
        (_vector("+Inf"), "not a finite number"),
        (_vector("abc"), "is not a number"),
        ({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}, "string"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "matrix"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, r"\(bad_data\)"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_everything_else_is_an_error(payload: Any, message: str) -> None:
    with pytest.raises(errors.MetricError, match=message):
        prometheus.parse_query_response(payload)


TARGET = workloads.TargetState(
    replicas=4, ready_replicas=4, total_replicas=4, selector="app=web", generation_observed=True
)


@pytest.fixture
async def server() -> AsyncIterator[Callable[[web.Application], Any]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def _source(
    session: aiohttp.ClientSession,
    url: str,
    *,
    average: bool = True,
    timeout: float = 2.0,
    limit: int = prometheus.DEFAULT_MAX_RESPONSE_BYTES,
    gate: prometheus.QueryGate | None = None,
) -> prometheus.PrometheusSource:
    endpoint = endpoints.Endpoint(
        display="Prometheus endpoint 'e2e'", base_url=url, session=session
    )
    return prometheus.PrometheusSource(
        endpoint=endpoint,
        query="sum(load)",
        target_value=10.0,
        average=average,
        timeout=timeout,
        policy="ns/p",
        gate=gate or prometheus.QueryGate(),
        max_response_bytes=limit,
    )


async def test_reads_and_normalizes_per_replica(server: Callable[[web.Application], Any]) -> None:
    seen: list[str] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.query["query"])
        return web.json_response(_vector("60"))

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        reading = await _source(session, url).read(TARGET)
        assert seen == ["sum(load)"]
        assert reading.value == 60.0
        assert reading.utilization == pytest.approx(60 / 4 / 10)
        value_reading = await _source(session, url, average=False).read(TARGET)
        assert value_reading.utilization == pytest.approx(6.0)


async def test_http_errors_and_timeouts(server: Callable[[web.Application], Any]) -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=502, text="secret-internal-hostname says bad gateway")

    async def hangs(_: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/broken/api/v1/query", broken)
    app.router.add_get("/hangs/api/v1/query", hangs)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.MetricError, match="HTTP 502") as info:
            await _source(session, f"{url}/broken").read(TARGET)
        assert "secret" not in str(info.value), "the body is never reflected"
        with pytest.raises(errors.MetricError, match=r"did not answer within 0.2s"):
            await _source(session, f"{url}/hangs", timeout=0.2).read(TARGET)
        with pytest.raises(errors.MetricError, match="cannot reach") as refused:
            await _source(session, "http://127.0.0.1:9").read(TARGET)
        assert "127.0.0.1" not in str(refused.value).replace("'e2e'", "")


async def test_error_fields_of_the_body_are_not_reflected(
    server: Callable[[web.Application], Any],
) -> None:
    async def refuses(_: web.Request) -> web.Response:
        body = {"status": "error", "errorType": "<script>", "error": "token=hunter2"}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_get("/api/v1/query", refuses)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.MetricError) as info:
            await _source(session, url).read(TARGET)
    assert "hunter2" not in str(info.value) and "<script>" not in str(info.value)
    assert "refused the query (error)" in str(info.value)


async def test_a_huge_body_is_refused_after_the_cap_with_bounded_memory(
    server: Callable[[web.Application], Any],
) -> None:
    """A server streaming 64 MiB (chunked, no Content-Length) is cut off after the cap: the
    client allocates about the cap, and the server gets to send only a little more."""
    sent = 0

    async def floods(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"[" * 65536
        try:
            for _ in range(1024):
                await resp.write(chunk)
                sent += len(chunk)
        except ConnectionError:
            pass
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/query", floods)
    url = await server(app)
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(errors.MetricError, match="more than 1048576 bytes"):
                await _source(session, url).read(TARGET)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert sent < 32 * 1024 * 1024


async def test_a_declared_huge_body_is_refused_before_reading(
    server: Callable[[web.Application], Any],
) -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b" " * 2048)

    app = web.Application()
    app.router.add_get("/api/v1/query", big)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.MetricError, match="more than 1024 bytes"):
            await _source(session, url, limit=1024).read(TARGET)


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(errors.MetricError, match="not valid JSON"):
        prometheus.decode(b"[" * 100_000 + b"]" * 100_000)


async def test_redirects_are_not_followed(server: Callable[[web.Application], Any]) -> None:
    followed: list[str] = []

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere/api/v1/query")

    async def elsewhere(_: web.Request) -> web.Response:
        followed.append("yes")
        return web.json_response(_vector("1"))

    app = web.Application()
    app.router.add_get("/api/v1/query", redirect)
    app.router.add_get("/elsewhere/api/v1/query", elsewhere)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.MetricError, match=r"HTTP 302 .*not followed"):
            await _source(session, url).read(TARGET)
    assert followed == []


async def test_endpoint_sessions_keep_no_cookies(server: Callable[[web.Application], Any]) -> None:
    cookies: list[str] = []

    async def query(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie", ""))
        resp = web.json_response(_vector("1"))
        resp.set_cookie("track", "me")
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    url = await server(app)
    registry = endpoints.Registry(
        config_file=None, credentials_dir=None, allowed_addresses=["http://127.0.0.1:*"]
    )
    try:
        endpoint = await registry.resolve("ns", None, url)
        source = _source(endpoint.session, url)
        await source.read(TARGET)
        await source.read(TARGET)
    finally:
        await registry.close()
    assert cookies == ["", ""]


async def test_one_query_per_policy_at_a_time(server: Callable[[web.Application], Any]) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        started.set()
        await release.wait()
        return web.json_response(_vector("1"))

    app = web.Application()
    app.router.add_get("/api/v1/query", slow)
    url = await server(app)
    gate = prometheus.QueryGate()
    async with aiohttp.ClientSession() as session:
        first = asyncio.create_task(_source(session, url, gate=gate).read(TARGET))
        await started.wait()
        with pytest.raises(errors.MetricError, match="still runs"):
            await _source(session, url, gate=gate).read(TARGET)
        release.set()
        assert (await first).value == 1.0
        assert (await _source(session, url, gate=gate).read(TARGET)).value == 1.0

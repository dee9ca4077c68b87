"""The Prometheus source: one finite sample or a clear error, never a silent zero."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nimbusguard.clients import errors, prometheus, workloads


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
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "parse error"),
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
    session: aiohttp.ClientSession, url: str, *, average: bool = True, timeout: float = 2.0
) -> prometheus.PrometheusSource:
    return prometheus.PrometheusSource(
        session=session,
        server_address=url,
        query="sum(load)",
        target_value=10.0,
        average=average,
        timeout=timeout,
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
        return web.Response(status=502, text="bad gateway")

    async def hangs(_: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/broken/api/v1/query", broken)
    app.router.add_get("/hangs/api/v1/query", hangs)
    url = await server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.MetricError, match="HTTP 502"):
            await _source(session, f"{url}/broken").read(TARGET)
        with pytest.raises(errors.MetricError, match=r"did not answer within 0.2s"):
            await _source(session, f"{url}/hangs", timeout=0.2).read(TARGET)
        with pytest.raises(errors.MetricError, match="cannot reach"):
            await _source(session, "http://127.0.0.1:9").read(TARGET)

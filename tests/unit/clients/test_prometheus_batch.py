"""Batched Prometheus queries: one request for many policies, the same answers and messages
as alone, and a query that breaks a batch is sent alone from then on."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nimbusguard.clients import endpoints, errors, prometheus, prometheus_batch as pb

# What the fake Prometheus knows: query → samples (None: a syntax error; "scalar": a scalar).
ANSWERS: dict[str, Any] = {
    'load{p="a"}': ["10"],
    'load{p="b"}': ["20"],
    'load{p="none"}': [],
    'load{p="two"}': ["1", "2"],
    "broken(": None,
    "scalar(load)": "scalar",
}
BRANCH = re.compile(r'label_replace\(\((.*?)\), "nimbusguard_batch", "(\d+)", "", ""\)')


def _vector(values: list[str], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        {"metric": {**(labels or {}), "i": str(n)}, "value": [1.0, v]} for n, v in enumerate(values)
    ]


def _error() -> web.Response:
    return web.json_response({"status": "error", "errorType": "bad_data"}, status=400)


class FakePrometheus:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post() if request.method == "POST" else request.query
        query = str(form["query"])
        self.requests.append((request.method, query))
        branches = BRANCH.findall(query)
        if not branches:
            answer = ANSWERS[query]
            if answer is None:
                return _error()
            if answer == "scalar":
                data = {"resultType": "scalar", "result": [1.0, "7"]}
            else:
                data = {"resultType": "vector", "result": _vector(answer)}
            return web.json_response({"status": "success", "data": data})
        result = []
        for inner, index in branches:
            answer = ANSWERS[inner]
            if answer is None or answer == "scalar":
                return _error()
            result += _vector(answer, {pb.LABEL: index})
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakePrometheus, str]]:
    prom = FakePrometheus()
    app = web.Application()
    app.router.add_route("*", "/api/v1/query", prom.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield prom, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def sources(
    session: aiohttp.ClientSession, url: str, batcher: pb.QueryBatcher, *queries: str
) -> list[prometheus.PrometheusSource]:
    endpoint = endpoints.Endpoint(display="Prometheus 'e2e'", base_url=url, session=session)
    return [
        prometheus.PrometheusSource(
            endpoint=endpoint,
            query=q,
            target_value=1.0,
            average=False,
            timeout=2.0,
            policy=f"ns/{n}",
            batcher=batcher,
        )
        for n, q in enumerate(queries)
    ]


async def outcomes(group: list[prometheus.PrometheusSource]) -> list[Any]:
    results = await asyncio.gather(*(s.query_value() for s in group), return_exceptions=True)
    return [str(r) if isinstance(r, errors.MetricError) else r for r in results]


async def test_many_policies_one_request_each_its_own_answer(
    fake: tuple[FakePrometheus, str], session: aiohttp.ClientSession
) -> None:
    prom, url = fake
    batcher = pb.QueryBatcher(window=0.05)
    group = sources(
        session, url, batcher, 'load{p="a"}', 'load{p="b"}', 'load{p="none"}', 'load{p="two"}'
    )

    got = await outcomes(group)

    assert got[:2] == [10.0, 20.0]
    assert "returned 0 samples" in got[2]
    assert "returned 2 samples" in got[3]
    assert [method for method, _ in prom.requests] == ["POST"]


async def test_a_query_that_breaks_the_batch_is_answered_alone_and_kept_apart(
    fake: tuple[FakePrometheus, str], session: aiohttp.ClientSession
) -> None:
    prom, url = fake
    batcher = pb.QueryBatcher(window=0.05)
    queries = ('load{p="a"}', "broken(", "scalar(load)", 'load{p="b"}')

    first = await outcomes(sources(session, url, batcher, *queries))
    prom.requests.clear()
    second = await outcomes(sources(session, url, batcher, *queries))

    for got in (first, second):
        assert got[0] == 10.0
        assert "refused the query (bad_data)" in got[1]
        assert got[2] == 7.0
        assert got[3] == 20.0
    # Second time: the two good ones share a request, the loners go alone.
    posts = [q for m, q in prom.requests if m == "POST"]
    assert len(posts) == 1
    assert "broken(" not in posts[0]
    assert sorted(q for m, q in prom.requests if m == "GET") == ["broken(", "scalar(load)"]


async def test_without_a_window_every_query_goes_alone(
    fake: tuple[FakePrometheus, str], session: aiohttp.ClientSession
) -> None:
    prom, url = fake
    got = await outcomes(
        sources(session, url, pb.QueryBatcher(window=0), 'load{p="a"}', 'load{p="b"}')
    )
    assert got == [10.0, 20.0]
    assert [m for m, _ in prom.requests] == ["GET", "GET"]


async def test_a_dead_endpoint_fails_every_waiter_with_its_message(
    session: aiohttp.ClientSession,
) -> None:
    group = sources(session, "http://127.0.0.1:9", pb.QueryBatcher(), 'load{p="a"}', 'load{p="b"}')
    got = await outcomes(group)
    assert all("cannot reach Prometheus 'e2e'" in g for g in got)


def test_combine_labels_every_branch() -> None:
    assert pb.combine(["a", "b"]) == (
        'label_replace((a), "nimbusguard_batch", "0", "", "") or '
        'label_replace((b), "nimbusguard_batch", "1", "", "")'
    )


def test_split_refuses_a_sample_without_a_branch() -> None:
    payload = {"status": "success", "data": {"resultType": "vector", "result": _vector(["1"])}}
    with pytest.raises(errors.MetricError, match="no branch"):
        pb.split(payload, 1)

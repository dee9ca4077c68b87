"""Many policies' instant queries to one Prometheus endpoint, in one request.

Queries to the same endpoint (URL, headers and session, so never across credentials) that
arrive within `window` seconds go out together as one POST /api/v1/query of

    label_replace(<q0>, "nimbusguard_batch", "0", "", "") or label_replace(<q1>, ..., "1", ...)

Each branch carries its own label value, so `or` keeps every sample of every branch; each
policy then gets its own branch's samples, judged by the same rules as a query of its own
(exactly one finite sample; the same messages). At 1,000 policies every 15 s that turns ~67
requests a second into a few, on the operator's side and on Prometheus's.

A query never changes meaning by being batched: its branch is evaluated as it is, at the
same instant as the others. When the batch as a whole fails (a syntax error in one query, a
scalar query that label_replace refuses, an HTTP error, a timeout), every query of it is sent
alone, so each owner gets its own answer and message; a query that broke a batch is sent
alone from then on. Each policy still waits no longer than its own timeoutSeconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Any

from nimbusguard.clients import errors, prometheus

LABEL = "nimbusguard_batch"
DEFAULT_WINDOW = 0.05
MAX_BATCH = 64
_MAX_SOLO = 10_000  # remembered loners; beyond that the set starts over


def combine(queries: list[str]) -> str:
    """One PromQL expression answering every query, each branch labelled by its index."""
    return " or ".join(
        f'label_replace(({q}), "{LABEL}", "{i}", "", "")' for i, q in enumerate(queries)
    )


def split(payload: Any, count: int) -> list[dict[str, Any]]:
    """The combined answer as `count` answers of their own (for parse_query_response);
    MetricError when it is not a successful vector."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise errors.MetricError("the batch was refused")
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise errors.MetricError("the batch did not return a vector")
    parts: list[list[Any]] = [[] for _ in range(count)]
    for item in data.get("result") or []:
        metric = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(metric, dict):
            raise errors.MetricError("a batch sample has no labels")
        index = metric.get(LABEL)
        if not (isinstance(index, str) and index.isdigit() and int(index) < count):
            raise errors.MetricError("a batch sample has no branch")
        labels = {k: v for k, v in metric.items() if k != LABEL}
        parts[int(index)].append({**item, "metric": labels})
    return [
        {"status": "success", "data": {"resultType": "vector", "result": part}} for part in parts
    ]


@dataclasses.dataclass
class _Batch:
    sources: list[prometheus.PrometheusSource] = dataclasses.field(default_factory=list)
    futures: list[asyncio.Future[float]] = dataclasses.field(default_factory=list)
    task: asyncio.Task[None] | None = None


class QueryBatcher:
    """Coalesces queries per endpoint; one instance per operator (see module docstring)."""

    def __init__(self, window: float = DEFAULT_WINDOW, max_batch: int = MAX_BATCH) -> None:
        self.window = window
        self.max_batch = max_batch
        self._open: dict[tuple[Any, ...], _Batch] = {}
        self._solo: set[str] = set()
        self.requests = 0  # batched requests sent (for tests and the benchmark's log)

    async def value(self, source: prometheus.PrometheusSource) -> float:
        if self.window <= 0 or source.query in self._solo:
            return await source.query_alone()
        ep = source.endpoint
        key = (ep.base_url, id(ep.session), tuple(sorted(ep.headers.items())), ep.server_hostname)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch()
            batch.task = asyncio.create_task(self._send_later(key, batch))
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        # A waiter that timed out has gone (shield keeps the future): its late answer or error is
        # dropped here instead of being logged as "exception was never retrieved".
        future.add_done_callback(_drop_unclaimed)
        batch.sources.append(source)
        batch.futures.append(future)
        if len(batch.sources) >= self.max_batch:
            self._open.pop(key, None)  # full: the next query starts a new batch
        try:
            async with asyncio.timeout(source.timeout):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            raise errors.MetricError(
                f"{ep.display} did not answer within {source.timeout:g}s"
            ) from exc

    async def _send_later(self, key: tuple[Any, ...], batch: _Batch) -> None:
        await asyncio.sleep(self.window)
        if self._open.get(key) is batch:
            del self._open[key]
        try:
            await self._send(batch)
        except BaseException as exc:  # never leave a waiter hanging
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            raise

    async def _send(self, batch: _Batch) -> None:
        sources, futures = batch.sources, batch.futures
        if len(sources) == 1:
            await _settle(futures[0], sources[0].query_alone())
            return
        first = sources[0]
        try:
            self.requests += 1
            body = await prometheus.fetch(
                first.endpoint,
                {"query": combine([s.query for s in sources])},
                timeout=max(s.timeout for s in sources),
                max_bytes=sum(s.max_response_bytes for s in sources),
                post=True,
            )
            answers = split(json.loads(body), len(sources))
        except (errors.MetricError, ValueError, RecursionError):
            if len(self._solo) > _MAX_SOLO:
                self._solo.clear()
            # Alone, each query gets its own answer. Those that fail alone, and scalar ones
            # (label_replace takes vectors only), are what breaks a batch: keep them apart.
            for source, future in zip(sources, futures, strict=True):
                if await _settle(future, self._alone(source)):
                    self._solo.add(source.query)
            return
        for future, answer in zip(futures, answers, strict=True):
            await _settle(future, _parsed(answer))

    async def _alone(self, source: prometheus.PrometheusSource) -> float:
        body = await prometheus.fetch(
            source.endpoint,
            {"query": source.query},
            timeout=source.timeout,
            max_bytes=source.max_response_bytes,
            post=False,
        )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise errors.MetricError("the Prometheus response is not valid JSON") from exc
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict) and data.get("resultType") == "scalar":
            self._solo.add(source.query)
        return prometheus.parse_query_response(payload)


def _drop_unclaimed(future: asyncio.Future[float]) -> None:
    if not future.cancelled():
        future.exception()


async def _parsed(answer: dict[str, Any]) -> float:
    return prometheus.parse_query_response(answer)


async def _settle(future: asyncio.Future[float], work: Any) -> bool:
    """Run `work` into `future`; True when it failed."""
    try:
        value = await work
    except errors.MetricError as exc:
        if not future.done():
            future.set_exception(exc)
        return True
    if not future.done():
        future.set_result(value)
    return False


async def close(batcher: QueryBatcher) -> None:
    """Cancel batches still waiting (shutdown)."""
    for batch in list(batcher._open.values()):
        if batch.task is not None:
            batch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await batch.task

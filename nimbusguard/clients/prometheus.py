"""The Prometheus HTTP API as a metric source (`GET /api/v1/query`), hardened for many tenants.

The query must yield exactly one finite number: one vector element or a scalar. Zero
samples, several samples, strings, matrices, NaN/Inf, HTTP errors and timeouts are errors
with a message that says which — never a silent zero.

A metric server is something a tenant points the operator at, so the client assumes it may be
hostile (see `endpoints` for which servers are allowed at all):

- the body is read up to a cap (`max_response_bytes`, default 1 MiB) and refused beyond it,
  before anything is parsed, so no answer can exhaust memory; parsing is bounded by that cap;
- redirects are not followed and no cookies are kept (each endpoint's session has a
  `DummyCookieJar` and its own bounded connection pool);
- one query per policy at a time: a policy whose previous query still runs fails fast;
- messages (status, Events, logs) name the endpoint and the HTTP status or Prometheus's
  error type, never text from the response body, and never credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import socket
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp

from nimbusguard.clients import endpoints, errors, sources, workloads

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
# Prometheus's errorType values are a short fixed vocabulary; anything else is not shown.
_ERROR_TYPE = re.compile(r"^[a-z_]{1,32}$")


def parse_query_response(payload: Any) -> float:
    """The single value of a /api/v1/query response; MetricError otherwise (pure)."""
    if not isinstance(payload, dict):
        raise errors.MetricError("Prometheus answered with something that is not a JSON object")
    if payload.get("status") != "success":
        kind = payload.get("errorType")
        shown = kind if isinstance(kind, str) and _ERROR_TYPE.match(kind) else "error"
        raise errors.MetricError(
            f"Prometheus refused the query ({shown}); check spec.metrics.prometheus.query"
        )
    data = payload.get("data")
    if not isinstance(data, dict):
        raise errors.MetricError("Prometheus response has no data")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        sample = result
    elif result_type == "vector":
        if not isinstance(result, list):
            raise errors.MetricError("Prometheus vector result is not a list")
        if len(result) != 1:
            raise errors.MetricError(
                f"the query returned {len(result)} samples; it must return exactly one "
                "(aggregate it, e.g. with sum(...))"
            )
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    else:
        shown_type = result_type if result_type in ("matrix", "string") else "non-numeric result"
        raise errors.MetricError(
            f"the query returned a {shown_type}; it must return one vector element or a scalar"
        )
    if not (isinstance(sample, list) and len(sample) == 2):
        raise errors.MetricError("malformed sample in the Prometheus response")
    try:
        value = float(sample[1])
    except (TypeError, ValueError) as exc:
        raise errors.MetricError("the sample value is not a number") from exc
    if not math.isfinite(value):
        raise errors.MetricError(f"the query returned {value}, not a finite number")
    return value


def decode(body: bytes) -> float:
    """The value in a response body (bounded by the caller's cap); MetricError otherwise."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise errors.MetricError("the Prometheus response is not valid JSON") from exc
    return parse_query_response(payload)


class QueryGate:
    """One query per policy at a time: a second one while the first runs fails at once
    instead of piling up connections behind a slow server."""

    def __init__(self) -> None:
        self._running: set[str] = set()

    @contextlib.asynccontextmanager
    async def slot(self, policy: str) -> AsyncIterator[None]:
        if policy in self._running:
            raise errors.MetricError("the previous Prometheus query of this policy still runs")
        self._running.add(policy)
        try:
            yield
        finally:
            self._running.discard(policy)


async def read_capped(resp: aiohttp.ClientResponse, limit: int, display: str) -> bytes:
    """The body, or MetricError as soon as it exceeds `limit` bytes (decompressed)."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise errors.MetricError(f"{display} answered with more than {limit} bytes; refused")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise errors.MetricError(f"{display} answered with more than {limit} bytes; refused")
    return bytes(body)


def _os_reason(error: OSError) -> str:
    """ "Connection refused" and the like: the errno's text, never the error's own string
    (which names addresses)."""
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if error.errno:
        return os.strerror(error.errno)
    return type(error).__name__


async def fetch(
    ep: endpoints.Endpoint,
    form: dict[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 (applied here, with a message naming the endpoint)
    max_bytes: int,
    post: bool,
) -> bytes:
    """One request to /api/v1/query (GET with the query in the URL, or POST as a form for
    batches too long for a URL); the body, or MetricError naming what failed."""
    url = ep.base_url + "/api/v1/query"
    try:
        async with asyncio.timeout(timeout):
            async with ep.session.request(
                "POST" if post else "GET",
                url,
                params=None if post else form,
                data=form if post else None,
                headers=dict(ep.headers),
                allow_redirects=False,
                server_hostname=ep.server_hostname,
            ) as resp:
                status = resp.status
                if 300 <= status < 400:
                    raise errors.MetricError(
                        f"{ep.display} answered HTTP {status} (a redirect); "
                        "redirects are not followed"
                    )
                body = await read_capped(resp, max_bytes, ep.display)
    except TimeoutError as exc:
        raise errors.MetricError(f"{ep.display} did not answer within {timeout:g}s") from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise errors.MetricError(
            f"cannot reach {ep.display}: its TLS certificate is not trusted"
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.MetricError(f"cannot reach {ep.display}: {_os_reason(exc.os_error)}") from exc
    except aiohttp.ClientError as exc:
        raise errors.MetricError(f"cannot reach {ep.display}: {type(exc).__name__}") from exc
    if status >= 400 and not body.lstrip().startswith(b"{"):
        hint = " (check the endpoint's credentials)" if status in (401, 403) else ""
        raise errors.MetricError(f"{ep.display} answered HTTP {status}{hint}")
    return body


class Batcher(Protocol):
    async def value(self, source: PrometheusSource) -> float: ...


@dataclasses.dataclass
class PrometheusSource:
    """One policy's Prometheus metric, on an approved endpoint."""

    endpoint: endpoints.Endpoint
    query: str
    target_value: float
    average: bool  # AverageValue: divide by ready replicas before comparing with the target
    timeout: float
    policy: str = ""  # namespace/name: the key of the one-query-at-a-time gate
    gate: QueryGate = dataclasses.field(default_factory=QueryGate)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    name: str = "prometheus"
    batcher: Batcher | None = None  # sends it with other policies' queries to the endpoint

    async def query_value(self) -> float:
        async with self.gate.slot(self.policy):
            if self.batcher is not None:
                return await self.batcher.value(self)
            return await self.query_alone()

    async def query_alone(self) -> float:
        """This query in a request of its own."""
        body = await fetch(
            self.endpoint,
            {"query": self.query},
            timeout=self.timeout,
            max_bytes=self.max_response_bytes,
            post=False,
        )
        return decode(body)

    async def read(self, target: workloads.TargetState) -> sources.Reading:
        value = await self.query_value()
        if self.average:
            replicas = max(target.ready_replicas, 1)
            per_replica = value / replicas
            detail = f"{value:g} over {replicas} ready replicas = {per_replica:g} per replica"
        else:
            per_replica = value
            detail = f"{value:g}"
        return sources.Reading(
            source=self.name,
            value=value,
            utilization=per_replica / self.target_value,
            detail=f"{detail} against target {self.target_value:g}",
        )

"""The Prometheus HTTP API as a metric source (`GET /api/v1/query`).

The query must yield exactly one finite number: one vector element or a scalar. Zero
samples, several samples, strings, matrices, NaN/Inf, HTTP errors and timeouts are errors
with a message that says which — never a silent zero.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from typing import Any

import aiohttp

from nimbusguard.clients import errors, sources, workloads


def parse_query_response(payload: Any) -> float:
    """The single value of a /api/v1/query response; MetricError otherwise (pure)."""
    if not isinstance(payload, dict):
        raise errors.MetricError("Prometheus answered with something that is not a JSON object")
    if payload.get("status") != "success":
        kind = payload.get("errorType") or "error"
        raise errors.MetricError(f"Prometheus query failed ({kind}): {payload.get('error', '?')}")
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
        raise errors.MetricError(
            f"the query returned a {result_type}; it must return one vector element or a scalar"
        )
    if not (isinstance(sample, list) and len(sample) == 2):
        raise errors.MetricError(f"malformed sample in Prometheus response: {sample!r}")
    try:
        value = float(sample[1])
    except (TypeError, ValueError) as exc:
        raise errors.MetricError(f"sample value {sample[1]!r} is not a number") from exc
    if not math.isfinite(value):
        raise errors.MetricError(f"the query returned {sample[1]}, not a finite number")
    return value


@dataclasses.dataclass
class PrometheusSource:
    """One policy's Prometheus metric."""

    session: aiohttp.ClientSession
    server_address: str
    query: str
    target_value: float
    average: bool  # AverageValue: divide by ready replicas before comparing with the target
    timeout: float
    name: str = "prometheus"

    async def query_value(self) -> float:
        url = self.server_address.rstrip("/") + "/api/v1/query"
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.get(url, params={"query": self.query}) as resp:
                    text = await resp.text()
                    if resp.status >= 400 and not text.lstrip().startswith("{"):
                        raise errors.MetricError(
                            f"Prometheus at {self.server_address} answered HTTP {resp.status}: "
                            f"{text.strip()[:200]}"
                        )
        except TimeoutError as exc:
            raise errors.MetricError(
                f"Prometheus at {self.server_address} did not answer within {self.timeout:g}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise errors.MetricError(
                f"cannot reach Prometheus at {self.server_address}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise errors.MetricError(
                f"Prometheus at {self.server_address} answered HTTP {resp.status} with non-JSON"
            ) from exc
        return parse_query_response(payload)

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

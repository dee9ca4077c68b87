"""What a policy is permitted to make the operator do, checked before every evaluation.

Two questions, both answered from operator-owned configuration that tenants cannot write:

- may it target that namespace? (`nimbusguard.tenancy`: namespace sameness plus the grants in
  the ConfigMap `nimbusguard-tenancy` of the operator's namespace; the admission policy asks
  the same, this is the second enforcement for anything that slipped through);
- may it query that metric server, and how? (`nimbusguard.clients.endpoints`).

A refusal makes the policy phase Error with a `Permitted=False` condition and an Event in
the policy's own namespace; the evaluation stops there: no target read, no query, no scale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from api.v1 import scalingpolicy_types as types
from nimbusguard import tenancy
from nimbusguard.clients import configmaps, endpoints, errors, prometheus, prometheus_batch

logger = logging.getLogger(__name__)

GRANTS_CACHE_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Permit:
    """The outcome of the checks: a refusal, or the approved metric endpoint (if any)."""

    refusal: tenancy.Refusal | None = None
    endpoint: endpoints.Endpoint | None = None


class Permits:
    """Tenancy grants (cached briefly) and metric endpoints of one operator."""

    def __init__(
        self,
        *,
        hub: Any,
        operator_namespace: str,
        registry: endpoints.Registry,
        max_response_bytes: int = prometheus.DEFAULT_MAX_RESPONSE_BYTES,
        batch_window: float = prometheus_batch.DEFAULT_WINDOW,
        clock: Any = time.monotonic,
    ) -> None:
        self.hub = hub
        self.operator_namespace = operator_namespace
        self.registry = registry
        self.max_response_bytes = max_response_bytes
        self.gate = prometheus.QueryGate()
        # Queries to one endpoint within a few milliseconds share a request (docs/scaling.md).
        self.batcher = prometheus_batch.QueryBatcher(window=batch_window)
        self._clock = clock
        self._grants: tenancy.Grants | None = None
        self._read_at = -GRANTS_CACHE_SECONDS
        self._reading: asyncio.Future[tenancy.Grants] | None = None

    async def grants(self) -> tenancy.Grants:
        """The grants, re-read at most every few seconds. Missing ConfigMap: none. Unreadable
        and never read: none either (fail closed; the policies recover on the next read).

        One read at a time: the evaluations that find the cache stale while a read is under
        way wait for that read. Without this, every evaluation of a burst (hundreds in flight
        at 1,000 policies) read the ConfigMap itself: 0.7 reads per evaluation were measured.
        """
        now = self._clock()
        if self._grants is not None and now - self._read_at < GRANTS_CACHE_SECONDS:
            return self._grants
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_grants(now))
            self._reading.add_done_callback(self._read_done)
        return await asyncio.shield(self._reading)

    def _read_done(self, _: asyncio.Future[tenancy.Grants]) -> None:
        self._reading = None

    async def _read_grants(self, now: float) -> tenancy.Grants:
        try:
            data = await configmaps.read_data(self.hub, self.operator_namespace, tenancy.CONFIG_MAP)
        except errors.ClientError as exc:
            logger.warning("cannot read the tenancy grants: %s", exc)
            return self._grants or tenancy.Grants.none()
        grants = tenancy.Grants(data or {})
        if self._grants is None or grants.data != self._grants.data:
            for problem in grants.problems():
                logger.warning("tenancy grants (ConfigMap %s): %s", tenancy.CONFIG_MAP, problem)
        self._grants, self._read_at = grants, now
        return grants

    async def check(self, policy: types.ScalingPolicy) -> Permit:
        namespace = policy.metadata.namespace or "default"
        target = policy.spec.target
        refusal = tenancy.check(namespace, target.cluster, target.namespace, await self.grants())
        if refusal is not None:
            return Permit(refusal=refusal)
        prom = policy.spec.metrics.prometheus
        if prom is None:
            return Permit()
        try:
            endpoint = await self.registry.resolve(namespace, prom.endpoint, prom.server_address)
        except endpoints.EndpointError as exc:
            return Permit(refusal=tenancy.Refusal(exc.reason, exc.message))
        return Permit(endpoint=endpoint)

    def prometheus_source(
        self, policy: str, metric: types.PrometheusMetric, endpoint: endpoints.Endpoint
    ) -> prometheus.PrometheusSource:
        return prometheus.PrometheusSource(
            endpoint=endpoint,
            query=metric.query,
            target_value=metric.target_value,
            average=metric.metric_type == "AverageValue",
            timeout=metric.timeout_seconds,
            policy=policy,
            gate=self.gate,
            max_response_bytes=self.max_response_bytes,
            batcher=self.batcher,
        )

"""/healthz and /readyz on the probe port, /metrics on its own port (aiohttp), and the state
behind them.

The probe port is plain HTTP and open (the kubelet probes it); the metrics port is served
over TLS with authentication and authorization by default (controllers/metrics_auth.py).

- /healthz: the process is alive and its event loop responsive (a heartbeat task notes the
  loop's lag; a blocked loop also fails the probe by not answering).
- /readyz: the hub API answers and, for the instance that leads, the watch is running. A
  standby is ready too (it can take over), and says so: `{"role": "standby"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from aiohttp import web
from prometheus_client import aiohttp as prom_aiohttp

from controllers import observability
from nimbusguard.clients import errors

Role = Literal["single", "leader", "standby"]

# A probe more than this late means the loop was blocked (kubelet probes time out at 1 s).
MAX_LOOP_LAG = 5.0
# The hub must have answered within this many seconds for the instance to be ready.
MAX_HUB_SILENCE = 30.0


@dataclasses.dataclass
class Readiness:
    role: Role = "single"
    watching: bool = False
    hub_ok_at: float | None = None  # monotonic time of the hub's last answer
    loop_lag: float = 0.0

    def hub_reachable(self, now: float) -> bool:
        return self.hub_ok_at is not None and now - self.hub_ok_at <= MAX_HUB_SILENCE

    def ready(self, now: float) -> tuple[bool, str]:
        if not self.hub_reachable(now):
            return False, "the hub API server has not answered recently"
        if self.role == "standby":
            return True, "standby: waiting for the leader Lease"
        if not self.watching:
            return False, "the ScalingPolicy watch is not running yet"
        return True, "watching ScalingPolicies"


@dataclasses.dataclass(frozen=True)
class MetricsEndpoint:
    """Where and how /metrics is served: TLS context and middlewares (None/() = plain)."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    middlewares: tuple[Any, ...] = ()


def probes_app(readiness: Readiness) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        healthy = readiness.loop_lag <= MAX_LOOP_LAG
        body = {"healthy": healthy, "loopLagSeconds": round(readiness.loop_lag, 3)}
        return web.json_response(body, status=200 if healthy else 503)

    async def readyz(_: web.Request) -> web.Response:
        ok, why = readiness.ready(time.monotonic())
        body = {"ready": ok, "role": readiness.role, "reason": why}
        return web.Response(
            text=json.dumps(body), status=200 if ok else 503, content_type="application/json"
        )

    application = web.Application()
    application.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    return application


def metrics_app(
    metrics: observability.Metrics, middlewares: tuple[Any, ...] = ()
) -> web.Application:
    # prometheus-client's own handler: content negotiation (OpenMetrics), gzip, name[] filter.
    metrics_ = prom_aiohttp.make_aiohttp_handler(metrics.registry)

    application = web.Application(middlewares=list(middlewares))
    application.add_routes([web.get("/metrics", metrics_)])
    return application


async def _heartbeat(readiness: Readiness, period: float = 1.0) -> None:
    while True:
        start = time.monotonic()
        await asyncio.sleep(period)
        readiness.loop_lag = max(0.0, time.monotonic() - start - period)


async def _start(
    application: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> web.AppRunner:
    runner = web.AppRunner(application, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise errors.ConfigError(f"cannot serve on {host}:{port}: {exc.strerror}") from exc
    return runner


@contextlib.asynccontextmanager
async def serving(
    host: str,
    port: int,
    readiness: Readiness,
    metrics: observability.Metrics,
    metrics_endpoint: MetricsEndpoint | None = None,
) -> AsyncIterator[None]:
    """Serve the probes (and /metrics when `metrics_endpoint` says where) for the block."""
    runners = [await _start(probes_app(readiness), host, port, None)]
    try:
        if metrics_endpoint is not None:
            m = metrics_endpoint
            runners.append(
                await _start(metrics_app(metrics, m.middlewares), m.host, m.port, m.ssl_context)
            )
    except BaseException:
        await runners[0].cleanup()
        raise
    beat = asyncio.create_task(_heartbeat(readiness), name="heartbeat")
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        for runner in runners:
            await runner.cleanup()

"""/metrics, /healthz and /readyz on one port (aiohttp), and the state behind them.

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
import time
from collections.abc import AsyncIterator
from typing import Literal

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


def app(readiness: Readiness, metrics: observability.Metrics) -> web.Application:
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

    # prometheus-client's own handler: content negotiation (OpenMetrics), gzip, name[] filter.
    metrics_ = prom_aiohttp.make_aiohttp_handler(metrics.registry)

    application = web.Application()
    application.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_)]
    )
    return application


async def _heartbeat(readiness: Readiness, period: float = 1.0) -> None:
    while True:
        start = time.monotonic()
        await asyncio.sleep(period)
        readiness.loop_lag = max(0.0, time.monotonic() - start - period)


@contextlib.asynccontextmanager
async def serving(
    host: str, port: int, readiness: Readiness, metrics: observability.Metrics
) -> AsyncIterator[None]:
    """Serve the endpoints for the life of the block."""
    runner = web.AppRunner(app(readiness, metrics), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise errors.ConfigError(f"cannot serve on {host}:{port}: {exc.strerror}") from exc
    beat = asyncio.create_task(_heartbeat(readiness), name="heartbeat")
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await runner.cleanup()

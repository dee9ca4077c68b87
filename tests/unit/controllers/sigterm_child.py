"""A child process for test_shutdown: the operator's kopf + our shutdown order, no cluster.

kopf runs against an address nothing listens on (its watch retries in the background), the
reconciler has no policies; the test sends SIGTERM and reads the log."""

from __future__ import annotations

import asyncio
import logging
import sys

from kubernetes.aio import client as k8s

from controllers import health, manager, observability, permits as permits_, settings
from nimbusguard.clients import endpoints, kube


async def main() -> int:
    cfg = settings.parse(["--no-leader-elect"], environ={})
    configuration = k8s.Configuration(host="http://127.0.0.1:9")
    clients = kube.ClusterClients(k8s.ApiClient(configuration), None)
    readiness = health.Readiness(role="single")
    shutdown = asyncio.Event()
    manager._take_signals(shutdown)
    registry = endpoints.Registry(config_file=None, credentials_dir=None, allowed_addresses=())
    permits = permits_.Permits(
        hub=clients.hub, operator_namespace="nimbusguard-system", registry=registry
    )

    async def announce() -> None:
        while not readiness.watching:  # noqa: ASYNC110 (a plain flag, set by _operate)
            await asyncio.sleep(0.05)
        print("WATCHING", flush=True)

    task = asyncio.create_task(announce())
    code = await manager._operate(
        cfg, clients, permits, observability.Metrics(), readiness, None, shutdown
    )
    task.cancel()
    print(f"EXIT shutdown={shutdown.is_set()}", flush=True)
    return code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main()))

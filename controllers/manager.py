"""Run the operator: clients, the health/metrics server, leader election, then kopf.

With leader election on, an instance that is not the leader is a ready, warm standby: it
runs kopf's watch and the policy loops, and reads the Q-tables as they are written, but
evaluates and writes nothing until it holds the Lease (the reconciler's `take_over`). So one
process acts, never two (kopf's own peering freezes operators of equal priority instead of
electing one), and the one that takes over evaluates every policy within an interval, at its
own place in it. A leader that cannot renew its Lease stops and exits non-zero, so its pod
restarts as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kubernetes.aio import client as k8s

from api.v1 import scalingpolicy_types as types
from controllers import (
    collector as collector_,
    handlers,
    health,
    metrics_auth,
    observability,
    permits as permits_,
    reconciler as reconciler_,
    settings as st,
)
from nimbusguard.clients import (
    endpoints,
    errors,
    kube,
    leases,
    loop_thread,
    policies,
    shard_leases,
    target_cache,
    workloads,
)
from nimbusguard.workflow import graph

logger = logging.getLogger(__name__)

HUB_PROBE_PERIOD = 10.0
KOPF_GRACE = 2.0


async def connection_info(api: k8s.ApiClient) -> kopf.ConnectionInfo:
    """kopf's credentials, read now from the configuration our own hub client uses.

    Read on every kopf login, not once at start: the in-cluster loader's refresh hook re-reads
    a kubelet-rotated projected token, and an exec-plugin kubeconfig's hook re-runs the plugin
    when its token expires, so kopf picks up what the hub client already uses.
    """
    cfg = api.configuration
    # NB: the in-cluster loader stores "bearer <jwt>" (lower case), a kubeconfig "Bearer <t>"
    # or "Basic <b64>"; getting the key runs the refresh hook first.
    header = await cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
    scheme, token = _split_authorization(header)
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        scheme=scheme,
        token=token,
        username=cfg.username or None,
        password=cfg.password or None,
    )


def _split_authorization(header: str | None) -> tuple[str | None, str | None]:
    """(scheme, credentials) of an Authorization value; a bearer scheme is left to kopf."""
    if not header or not header.strip():
        return None, None
    first, _, rest = header.strip().partition(" ")
    if not rest.strip():
        return None, first  # a bare token: kopf sends it as a bearer token
    if first.lower() == "bearer":
        return None, rest.strip()
    return first, rest.strip()


async def _probe_hub(api: k8s.ApiClient, readiness: health.Readiness) -> None:
    version = k8s.VersionApi(api)
    while True:
        try:
            await kube.call(version.get_code, timeout=5.0)
            readiness.hub_ok_at = time.monotonic()
        except errors.ClientError as exc:
            logger.warning("the hub API server does not answer: %s", exc)
        await asyncio.sleep(HUB_PROBE_PERIOD)


async def run(cfg: st.Settings) -> int:
    """Run until a signal (exit 0) or a lost Lease (exit 1)."""
    metrics = observability.Metrics()
    readiness = health.Readiness(role="standby" if cfg.leader_elect else "single")
    shutdown = asyncio.Event()
    _take_signals(shutdown)

    hub = kube.HubConfig(kubeconfig=cfg.kubeconfig, context=cfg.context)
    host, port = cfg.host_port
    registry = endpoints.Registry(
        config_file=cfg.metric_endpoints,
        credentials_dir=cfg.metric_credentials,
        allowed_addresses=cfg.allow_prometheus_address,
    )
    async with (
        _lease_thread(cfg) as lease_loop,
        kube.clients(hub, cfg.member_kubeconfig, lease_loop=lease_loop) as clients,
        _closing(registry),
        _metrics_endpoint(cfg, clients.hub) as metrics_endpoint,
        health.serving(host, port, readiness, metrics, metrics_endpoint),
    ):
        permits = permits_.Permits(
            hub=clients.hub,
            operator_namespace=cfg.operator_namespace,
            registry=registry,
            max_response_bytes=cfg.prometheus_max_response_bytes,
        )
        logger.info(
            "serving /healthz, /readyz on %s:%d, /metrics %s; hub: %s",
            host,
            port,
            _describe(metrics_endpoint, cfg.metrics_secure),
            hub.describe(),
        )
        probe = asyncio.create_task(_probe_hub(clients.hub, readiness), name="hub-probe")
        elector: leases.LeaderElector | None = None
        # Compiled before leading: it takes CPU time a leader needs for its renewals.
        compiled = graph.build()
        collector = collector_.Collector(metrics)
        collector.install()
        try:
            if cfg.leader_elect and cfg.shards:
                readiness.role = "leader"  # of its shards; sharding.py decides which
            elif cfg.leader_elect:
                elector = _leader_elector(cfg, clients)
            return await _operate(
                cfg, clients, permits, metrics, readiness, elector, shutdown, compiled
            )
        finally:
            collector.uninstall()
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe
            if elector is not None:
                await clients.in_lease_loop(elector.release())
            metrics.leader.set(0)


@contextlib.asynccontextmanager
async def _metrics_endpoint(
    cfg: st.Settings, hub: k8s.ApiClient
) -> AsyncIterator[health.MetricsEndpoint | None]:
    """Where /metrics is served; with --metrics-secure, over TLS behind TokenReview and
    SubjectAccessReview."""
    where = cfg.metrics_host_port
    if where is None:
        yield None
        return
    if not cfg.metrics_secure:
        yield health.MetricsEndpoint(*where)
        return
    async with metrics_auth.tls_context(cfg.metrics_cert_dir) as context:
        middlewares = (metrics_auth.middleware(metrics_auth.Reviewer(hub)),)
        yield health.MetricsEndpoint(*where, ssl_context=context, middlewares=middlewares)


def _describe(endpoint: health.MetricsEndpoint | None, secure: bool) -> str:
    if endpoint is None:
        return "not served"
    how = "https, authenticated" if secure else "plain http, open"
    return f"on {endpoint.host}:{endpoint.port} ({how})"


@contextlib.asynccontextmanager
async def _closing(registry: endpoints.Registry) -> AsyncIterator[endpoints.Registry]:
    try:
        yield registry
    finally:
        await registry.close()


@contextlib.asynccontextmanager
async def _lease_thread(cfg: st.Settings) -> AsyncIterator[loop_thread.LoopThread | None]:
    """The thread the Lease renewals run on, when there are Leases to renew."""
    if not (cfg.leader_elect or cfg.shards):
        yield None
        return
    async with loop_thread.running("leases") as thread:
        yield thread


async def _forever() -> None:
    await asyncio.Event().wait()


def shutdown_deadline(cfg: st.Settings) -> float:
    """How long stopping may take: within one renew deadline minus a retry period, so that
    even when the signal comes right after a renewal and no renewal succeeds afterwards, the
    loops stop and the Q-tables are written while the fence is still open, and the Lease is
    released before it could expire."""
    if not cfg.leader_elect:
        return 10.0
    return max(1.0, cfg.renew_deadline - cfg.retry_period)


def _take_signals(shutdown: asyncio.Event) -> None:
    """SIGINT/SIGTERM set `shutdown` (kopf installs its own handlers when it starts, which
    would stop kopf before our loops: we take them back once it runs)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)


async def wind_down(
    reconciler: reconciler_.Reconciler,
    stop_flag: asyncio.Event,
    operator: asyncio.Task[None],
    deadline: float,
) -> None:
    """Stop in the order that keeps one actor: every policy loop first (concurrently, while
    the Lease is still renewed), then the Q-tables (only while the fence is open), then kopf.
    The caller stops renewing and releases the Lease after this returns."""
    started = time.monotonic()
    await reconciler.shutdown(deadline)
    stop_flag.set()
    # kopf writes nothing once the loops are stopped (its handlers only hand bodies to the
    # reconciler): a short grace to stop cleanly, then it is cancelled.
    left = min(KOPF_GRACE, max(0.5, deadline - (time.monotonic() - started)))
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(operator), timeout=left)
    if not operator.done():
        operator.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await operator
    logger.info("stopped in %.1fs", time.monotonic() - started)


_NAMESPACE_NAME = re.compile(types.DNS_LABEL)


async def _namespaces_as_given(cfg: st.Settings, clients: kube.ClusterClients) -> bool:
    """Whether kopf may take the watched namespaces as given instead of listing the cluster's.

    With `--namespace`, kopf lists and watches all namespaces (for its glob patterns); the
    shipped RBAC does not grant that, so kopf retried the refused LIST for about a minute
    (its error backoffs, 54 s measured in the e2e test) before it watched the policies: every
    start of a namespaced install (OLM OwnNamespace, SingleNamespace) began a minute late.
    kopf's one switch for this also stops its watch for CRDs, which is what lets a pod that
    starts before the ScalingPolicy CRD is established serve it once it is: so the switch is
    thrown only when every name is exact and the hub serves ScalingPolicies already."""
    exact = all(len(n) <= 63 and _NAMESPACE_NAME.fullmatch(n) for n in cfg.namespaces)
    if not cfg.namespaces or not exact:
        return False
    try:
        served = await policies.served(clients.hub)
    except errors.ClientError as exc:
        logger.warning("kopf lists the namespaces itself: ScalingPolicies not checked (%s)", exc)
        return False
    if served:
        logger.info("watching namespaces %s as given (kopf lists none)", ", ".join(cfg.namespaces))
    else:
        logger.info("kopf lists the namespaces itself: ScalingPolicies are not served yet")
    return served


async def _operate(
    cfg: st.Settings,
    clients: kube.ClusterClients,
    permits: permits_.Permits,
    metrics: observability.Metrics,
    readiness: health.Readiness,
    elector: leases.LeaderElector | None,
    shutdown: asyncio.Event,
    compiled: graph.Compiled | None = None,
) -> int:
    sharded = _shard_leases(cfg, clients, metrics) if cfg.shards else None

    def counted(source: str) -> None:
        metrics.target_reads.labels(source=source).inc()

    watched = target_cache.TargetCache(on_read=counted) if cfg.target_reads == "watch" else None
    reconciler = reconciler_.Reconciler(
        clients=clients,
        permits=permits,
        metrics=metrics,
        readiness=readiness,
        graph=compiled or graph.build(),
        identity=cfg.identity,
        may_write=elector.may_act if elector else (lambda: True),
        owns=sharded.owns if sharded else (lambda _: True),
        handed_over=sharded.handed_over if sharded else (lambda _: None),
        max_concurrent=cfg.max_concurrent_evaluations,
        standby=elector is not None,
        targets=watched or workloads.Gets(on_read=counted),
        status_refresh=cfg.status_refresh_seconds,
    )
    if sharded is not None:
        # The rounds run on the Lease thread; the loops they stop and count live on this one.
        here = asyncio.get_running_loop()

        async def release(shards: frozenset[int]) -> None:
            await loop_thread.run_on(here, reconciler.quiesce(shards))

        def changed(held: frozenset[int]) -> None:
            metrics.shards_held.set(len(held))
            reconciler.recount()

        sharded.on_release = release

        def on_change(held: frozenset[int]) -> None:
            here.call_soon_threadsafe(changed, held)

        sharded.on_change = on_change
    registry = handlers.build_registry()

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await connection_info(clients.hub)

    kopf_settings = handlers.settings(registry)
    if await _namespaces_as_given(cfg, clients):
        kopf_settings.scanning.disabled = True
    stop_flag = asyncio.Event()
    ready_flag = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=kopf_settings,
            standalone=True,
            clusterwide=not cfg.namespaces,
            namespaces=list(cfg.namespaces),
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=kopf.Memo(reconciler=reconciler),
        ),
        name="kopf",
    )

    async def mark_watching() -> None:
        await ready_flag.wait()
        _take_signals(shutdown)
        readiness.watching = True

    async def list_uids() -> set[str]:
        return await policies.list_uids(clients.hub, tuple(cfg.namespaces))

    watching = asyncio.create_task(mark_watching(), name="ready-flag")
    sweeping = asyncio.create_task(reconciler.sweep_forever(list_uids), name="sweep")
    freezing = asyncio.create_task(collector_.keep_frozen(), name="gc-freeze")
    following = asyncio.create_task(reconciler.follow_tables(), name="follow-tables")
    taking_over: list[asyncio.Task[None]] = []
    if elector is not None:
        here = asyncio.get_running_loop()

        def led() -> None:  # on this loop, once the Lease thread acquired the Lease
            readiness.role = "leader"
            metrics.leader.set(1)
            taking_over.append(asyncio.create_task(reconciler.take_over(), name="take-over"))

        async def lead() -> None:
            await elector.acquire()
            here.call_soon_threadsafe(led)
            # Renew from now on: anything slow before the first renewal would close the fence
            # (the renew deadline counts from the acquiring write).
            await elector.hold()

        renewing = lead()
    else:
        renewing = sharded.run() if sharded else _forever()
    holding = asyncio.create_task(clients.in_lease_loop(renewing), name="lease")
    stopping = asyncio.create_task(shutdown.wait(), name="shutdown")
    exit_code = 0
    try:
        done, _ = await asyncio.wait(
            {operator, holding, stopping}, return_when=asyncio.FIRST_COMPLETED
        )
        if holding in done and isinstance(holding.exception(), leases.LeadershipLostError):
            logger.error("%s; stopping so that the new leader acts alone", holding.exception())
            exit_code = 1
        if operator in done and operator.exception() is not None:
            logger.error("kopf stopped: %s", operator.exception())
            exit_code = 1
    finally:
        readiness.watching = False
        if elector is not None and not taking_over:
            # A standby that never led stops trying at once: taking the Lease while it winds
            # down would hand it over twice for nothing.
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await holding
        # A leader's Lease is still renewed (holding runs) while the loops stop.
        await wind_down(reconciler, stop_flag, operator, shutdown_deadline(cfg))
        tasks = (holding, stopping, watching, sweeping, freezing, following, *taking_over)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if watched is not None:
            await watched.close()
        if sharded is not None:  # the loops are stopped: hand the shards over at once
            await clients.in_lease_loop(sharded.release_all())
    return exit_code


def _lease_settings(cfg: st.Settings) -> leases.LeaseSettings:
    """The leader Lease (or, with --shards, the prefix of the shard Leases) and its timings."""
    return leases.LeaseSettings(
        name=cfg.lease_name,
        namespace=cfg.lease_namespace,
        identity=cfg.identity,
        lease_duration=cfg.lease_duration,
        renew_deadline=cfg.renew_deadline,
        retry_period=cfg.retry_period,
    )


def _leader_elector(cfg: st.Settings, clients: kube.ClusterClients) -> leases.LeaderElector:
    """The single leader's Lease, on the Leases' own client (see kube.ClusterClients)."""
    return leases.LeaderElector(clients.coordination, _lease_settings(cfg))


def _shard_leases(
    cfg: st.Settings, clients: kube.ClusterClients, metrics: observability.Metrics
) -> shard_leases.ShardLeases:
    """This replica's shard Leases (--shards K): which policies it evaluates; on the Leases'
    own client, as the leader's."""
    metrics.shards.set(cfg.shards)

    async def nothing(_: frozenset[int]) -> None:
        return None

    return shard_leases.ShardLeases(
        clients.coordination,
        shard_leases.ShardSettings(lease=_lease_settings(cfg), shards=cfg.shards),
        on_release=nothing,  # replaced by the reconciler's once it exists
        on_change=lambda held: metrics.shards_held.set(len(held)),
    )

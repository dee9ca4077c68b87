"""One run of the scale benchmark at N policies: fresh clusters, fleet, Prometheus, operator,
then the measurements (see benchmarks/scale.py for what is reported and how).

Phases, each timed: clusters up; fleet created and every Deployment ready; a quiet window
without the operator (the API servers' own background traffic: controller manager, scheduler,
kwok); the operator starts and every policy is evaluated once; one more interval of warm-up;
the measured window; optionally a leader takeover (SIGKILL the leader, a standby takes over).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes

from benchmarks import scale_decisions, scale_fleet as fleet, scale_operator, scale_probe as probe
from hack import scaleload
from hack.localcluster import LocalClusters, LocalPrometheus

ROOT = Path(__file__).resolve().parents[1]
CRD_FILE = ROOT / "config" / "crd" / "bases" / "nimbusguard.io_scalingpolicies.yaml"
PODS_PER_NODE = 100  # of kwok's 110, leaving room for scale-ups


@dataclasses.dataclass(frozen=True)
class Options:
    window: float = 120.0  # seconds measured in steady state
    quiet: float = 20.0  # seconds of background traffic measured before the operator starts
    takeover: bool = False
    profile: Path | None = None
    memory: Path | None = None  # a memory report (benchmarks/scale_memory.py)
    memory_trace: bool = False  # with tracemalloc (slow)
    memory_census: bool = False  # the objects by type (a pause a minute)
    extra_args: tuple[str, ...] = ()
    progress: Callable[[str], None] = print


def _wait(condition: Callable[[], bool], timeout: float, what: str, step: float = 1.0) -> float:
    """Poll until `condition` holds; the seconds it took. RuntimeError after `timeout`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - began


def _evaluated(scrape: probe.Scrape) -> int:
    """Policies evaluated at least once (the replicas gauge is set on the first evaluation
    that read its target, for an operator without nimbusguard_evaluated_policies)."""
    seen = probe.label_values(scrape, "nimbusguard_policy_replicas", "policy", kind="current")
    return max(int(probe.gauge(scrape, "nimbusguard_evaluated_policies")), len(seen))


def _ready_deployments(api: Any) -> int:
    apps: Any = kubernetes.client.AppsV1Api(api)
    items = apps.list_deployment_for_all_namespaces().items
    return sum(1 for d in items if (d.status.ready_replicas or 0) >= 1)


class _Servers:
    """Both API servers' /metrics and their processes."""

    def __init__(self, clusters: LocalClusters) -> None:
        self.apis = {name: probe.apiserver(clusters.cluster(name)) for name in clusters.names}

    def scrape(self) -> dict[str, probe.Scrape]:
        return {name: probe.fetch_apiserver(api) for name, api in self.apis.items()}


def _requests(
    before: dict[str, probe.Scrape], after: dict[str, probe.Scrape], seconds: float
) -> dict[str, Any]:
    """Requests per second by cluster and "VERB resource", and 429s, between two scrapes."""
    out: dict[str, Any] = {"by_cluster": {}, "429": 0.0}
    for name in after:
        counts = probe.delta(before[name], after[name], "apiserver_request_total")
        out["429"] += probe.total(counts, code="429")
        by = probe.requests_by(counts)
        out["by_cluster"][name] = {
            k: round(v / seconds, 3) for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v
        }
        out.setdefault("total_per_second", 0.0)
        out["total_per_second"] += sum(by.values()) / seconds
    return out


def _inflight(scrapes: dict[str, probe.Scrape]) -> float:
    return max(probe.gauge(s, "apiserver_current_inflight_requests") for s in scrapes.values())


@dataclasses.dataclass
class Environment:
    """Clusters, fleet and Prometheus of one N, ready for operators."""

    kubeconfig: Path
    prometheus: LocalPrometheus
    servers: _Servers
    pids: dict[str, int]
    workdir: Path


@contextlib.contextmanager
def environment(n: int, opts: Options, result: dict[str, Any]) -> Iterator[Environment]:
    """Start clusters, Prometheus and the fleet; measure the background; stop all after."""
    say = opts.progress
    workdir = Path(tempfile.mkdtemp(prefix="nimbusguard-scale-"))
    nodes = max(2, math.ceil(fleet.pods_per_cluster(n) * 1.3 / PODS_PER_NODE))
    clusters = LocalClusters(("hub", "member"), nodes=nodes, timeout=300)
    exporter = scaleload.ScaleLoad(n)
    scrape = [{"job_name": "load", "static_configs": [{"targets": [exporter.target]}]}]
    prometheus = LocalPrometheus(scrape, scrape_interval="5s", evaluation_interval="15s")
    try:
        say(f"[N={n}] starting 2 clusters with {nodes} kwok nodes each")
        result["clusters_start_seconds"] = round(clusters.start(), 1)
        prometheus.start()
        prometheus.wait_for_targets_up(timeout=60)
        kubeconfig = clusters.kubeconfig
        subprocess.run(
            [str(clusters.kubectl), f"--kubeconfig={kubeconfig}", "--context=hub", "apply",
             "--server-side", "-f", str(CRD_FILE)],
            check=True, capture_output=True,
        )  # fmt: skip
        hub = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context="hub"
        )
        member = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context="member"
        )
        _wait(lambda: _crd_established(hub), 60, "the CRD")
        began = time.monotonic()
        fleet.create(hub, member, n, prometheus.url)
        say(f"[N={n}] fleet created in {time.monotonic() - began:.0f}s; waiting for pods")
        _wait(
            lambda: _ready_deployments(hub) + _ready_deployments(member) >= n,
            600,
            f"{n} ready Deployments",
            step=3.0,
        )
        result["fleet_seconds"] = round(time.monotonic() - began, 1)

        servers = _Servers(clusters)
        pids = {f"{s.cluster}/{s.component}": s.pid for s in clusters.status() if s.pid}
        pids["prometheus"] = probe.pids_with_argument(f"--config.file={prometheus.config_file}")[0]
        say(f"[N={n}] {opts.quiet:.0f}s of background traffic without the operator")
        quiet_before = servers.scrape()
        meter = probe.CpuMeter(dict(pids))
        meter.start()
        time.sleep(opts.quiet)
        result["background"] = {
            "requests": _requests(quiet_before, servers.scrape(), opts.quiet),
            "cores": {k: round(v, 3) for k, v in meter.stop().items()},
        }
        yield Environment(kubeconfig, prometheus, servers, pids, workdir)
    finally:
        prometheus.close()
        exporter.close()
        clusters.stop()
        (workdir / "result.json").write_text(json.dumps(result, indent=2))


def run(n: int, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"policies": n, "interval": fleet.INTERVAL}
    operators: list[scale_operator.Operator] = []
    with environment(n, opts, result) as env:
        try:
            _measure(n, opts, env, operators, result)
        finally:
            for operator in operators:
                operator.stop()
    if opts.profile is not None:
        result["profile_file"] = str(opts.profile)
    if opts.memory is not None and opts.memory.exists():
        result["memory"] = json.loads(opts.memory.read_text())
    return result


def _measure(
    n: int,
    opts: Options,
    env: Environment,
    operators: list[scale_operator.Operator],
    result: dict[str, Any],
) -> None:
    say = opts.progress
    kubeconfig, prometheus, servers, pids, workdir = (
        env.kubeconfig, env.prometheus, env.servers, env.pids, env.workdir
    )  # fmt: skip
    first = scale_operator.Operator(
        kubeconfig=kubeconfig,
        operator_namespace=fleet.OPERATOR_NAMESPACE,
        log_file=workdir / "operator-a.log",
        identity="scale-a",
        profile=opts.profile,
        memory=opts.memory,
        memory_trace=opts.memory_trace,
        memory_census=opts.memory_census,
        leader_elect=opts.takeover,
        extra_args=opts.extra_args,
    )
    operators.append(first.start())
    say(f"[N={n}] operator started; waiting until every policy was evaluated once")
    limit = 10 * fleet.INTERVAL + n / 5
    result["first_round_seconds"] = round(
        _wait(lambda: _evaluated(first.metrics()) >= n, limit, f"{n} policies evaluated"), 1
    )
    if opts.takeover:
        standby = scale_operator.Operator(
            kubeconfig=kubeconfig,
            operator_namespace=fleet.OPERATOR_NAMESPACE,
            log_file=workdir / "operator-b.log",
            identity="scale-b",
            leader_elect=True,
            extra_args=opts.extra_args,
        )
        operators.append(standby.start())
    time.sleep(fleet.INTERVAL)  # warm-up: one more interval

    say(f"[N={n}] measuring {opts.window:.0f}s of steady state")
    pids["operator"] = first.pid
    if opts.takeover:  # a warm standby follows the fleet: what that costs the machine
        pids["standby"] = operators[1].pid
    meter = probe.CpuMeter(dict(pids))
    servers_before, op_before = servers.scrape(), first.metrics()
    prom_before = probe.fetch(f"{prometheus.url}/metrics")
    meter.start()
    peak_inflight = 0.0
    window_start = time.time()
    ends = time.monotonic() + opts.window
    while time.monotonic() < ends:
        meter.sample()
        # Each scrape of an API server's /metrics costs it CPU: sample sparingly.
        peak_inflight = max(peak_inflight, _inflight(servers.scrape()))
        time.sleep(10.0)
    cores = meter.stop()
    servers_after, op_after = servers.scrape(), first.metrics()
    prom_after = probe.fetch(f"{prometheus.url}/metrics")
    result["steady"] = _steady(
        n, opts.window, cores, meter.peak_rss, servers_before, servers_after,
        op_before, op_after, prom_before, prom_after, peak_inflight,
    )  # fmt: skip
    result["steady"]["decision_lag"] = scale_decisions.lag(
        scale_decisions.decisions(first.log_file, "a"), fleet.INTERVAL, window_start, time.time()
    )
    if opts.takeover:
        result["takeover"] = _takeover(first, operators[1], servers, n, say)
    # The profile covers the operator's whole life: count every evaluation it ran.
    result["profile_evaluations"] = int(probe.gauge(first.metrics(), "nimbusguard_workflows_total"))


def _crd_established(api: Any) -> bool:
    extensions: Any = kubernetes.client.ApiextensionsV1Api(api)
    try:
        crd = extensions.read_custom_resource_definition("scalingpolicies.nimbusguard.io")
    except kubernetes.client.ApiException:
        return False
    return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])


def _steady(
    n: int,
    seconds: float,
    cores: dict[str, float],
    peak_rss: dict[str, int],
    servers_before: dict[str, probe.Scrape],
    servers_after: dict[str, probe.Scrape],
    op_before: probe.Scrape,
    op_after: probe.Scrape,
    prom_before: probe.Scrape,
    prom_after: probe.Scrape,
    peak_inflight: float,
) -> dict[str, Any]:
    lag = probe.histogram_delta(op_before, op_after, "nimbusguard_evaluation_lag_seconds")
    duration = probe.histogram_delta(op_before, op_after, "nimbusguard_reconcile_duration_seconds")
    evaluations = sum(probe.delta(op_before, op_after, "nimbusguard_workflows_total").values())
    queries = probe.total(
        probe.delta(prom_before, prom_after, "prometheus_http_requests_total"),
        handler="/api/v1/query",
    )
    requests = _requests(servers_before, servers_after, seconds)
    status_writes = sum(
        probe.total(
            probe.delta(servers_before[c], servers_after[c], "apiserver_request_total"),
            verb="PATCH", resource="scalingpolicies", subresource="status",
        )
        for c in servers_after
    )  # fmt: skip
    apiservers = sum(v for k, v in cores.items() if k.endswith("/kube-apiserver"))
    full_gcs = probe.total(
        probe.delta(op_before, op_after, "python_gc_collections_total"), generation="2"
    )
    paused = probe.delta(op_before, op_after, "nimbusguard_gc_pause_seconds_sum")
    return {
        "evaluations_per_second": round(evaluations / seconds, 2),
        "expected_evaluations_per_second": round(n / fleet.INTERVAL, 2),
        "lag_p50": _round(probe.quantile(0.5, lag)),
        "lag_p99": _round(probe.quantile(0.99, lag)),
        "evaluation_p50": _round(probe.quantile(0.5, duration)),
        "evaluation_p99": _round(probe.quantile(0.99, duration)),
        "overdue_seconds_at_end": round(
            probe.gauge(op_after, "nimbusguard_evaluation_overdue_seconds"), 2
        ),
        "operator_cores": round(cores.get("operator", 0.0), 3),
        "operator_rss_mb": round(peak_rss.get("operator", 0) / 2**20, 1),
        "standby_cores": round(cores["standby"], 3) if "standby" in cores else None,
        "standby_rss_mb": round(peak_rss["standby"] / 2**20, 1) if "standby" in peak_rss else None,
        "apiserver_cores": round(apiservers, 3),
        "cores": {k: round(v, 3) for k, v in sorted(cores.items())},
        "requests": requests,
        "peak_inflight": peak_inflight,
        "prometheus_queries_per_second": round(queries / seconds, 2),
        "status_writes_per_policy_minute": round(status_writes / n / (seconds / 60), 3),
        # The operator's own count, by why it wrote (news, refresh, unsure).
        "status_writes_by_why_per_policy_minute": {
            dict(k).get("why", "?"): round(v / n / (seconds / 60), 3)
            for k, v in sorted(
                probe.delta(op_before, op_after, "nimbusguard_status_writes_total").items()
            )
        },
        # The collector's pauses block every evaluation due meanwhile (controllers/collector.py).
        "gc_full_collections": full_gcs,
        "gc_paused_seconds": {
            dict(k).get("generation", "?"): round(v, 3) for k, v in paused.items()
        },
    }


def _takeover(
    leader: scale_operator.Operator,
    standby: scale_operator.Operator,
    servers: _Servers,
    n: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """SIGKILL the leader; seconds until the standby leads and until it evaluated every
    policy once, and the API servers' peak in-flight requests meanwhile."""
    say(f"[N={n}] takeover: SIGKILL the leader")
    before = servers.scrape()
    leader.kill()
    killed = time.monotonic()
    led: float | None = None
    peak = 0.0
    deadline = killed + 60 + 4 * fleet.INTERVAL
    while time.monotonic() < deadline:
        scrape = standby.metrics()
        if led is None and probe.gauge(scrape, "nimbusguard_leader") >= 1:
            led = time.monotonic()
        if _evaluated(scrape) >= n:
            break
        peak = max(peak, _inflight(servers.scrape()))
        time.sleep(0.5)
    done = time.monotonic()
    seconds = done - killed
    return {
        "seconds_to_lead": _round(led - killed if led else None),
        "seconds_to_all_evaluated_after_leading": _round(done - led if led else None),
        "all_evaluated": _evaluated(standby.metrics()) >= n,
        "peak_inflight": peak,
        "requests": _requests(before, servers.scrape(), seconds),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

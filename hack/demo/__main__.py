"""`make demo`: NimbusGuard scaling a member cluster's workload from a hub, live.

Builds the control-plane binaries and the operator image if needed (the first time takes a
while), trains a warm-start Q-table in the simulator on other days of the Alibaba 2018 trace,
starts two local clusters (hub and member, the hub with a real node: kubelet + containerd) and
a real Prometheus, installs the CRD, deploys a workload in the member cluster, replays a
compressed day of the trace as its load, installs the operator as users do (config/default: a
Pod on the real node; `--host-operator`: a host process), creates a ScalingPolicy in the hub
that warm-starts from the table, and shows who acts (the HPA formula or the learner), why, and
what the HPA formula would have done, until Ctrl-C (or --duration). On the way out it prints a
summary (replica-minutes against the HPA formula's, SLO violations, scale events, from what
the API servers recorded) and stops everything it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import kubernetes
import yaml

from hack import incluster, loadgen, workloads
from hack.demo import operator, trace as trace_mod, view, warmstart
from hack.localcluster import LocalClusterError, LocalClusters, LocalPrometheus

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "config" / "crd" / "bases" / "nimbusguard.io_scalingpolicies.yaml"
NAMESPACE = "demo"
# The team's HPA settings as many run them: a safe 50 % utilization target, while the service
# level only breaks above 87.5 % (SLO_RATIO × target). The HPA formula keeps the target; the
# learner spends the SLO budget instead, which is what it can save and what the demo shows.
# (At a tuned 70 % target the learner is on par with the HPA and takes minutes to win.)
TARGET_UTILIZATION = 0.5
STEPS = 9
# The policy, in the demo's wall time: an evaluation every 5 s, pods ready within seconds.
MIN_REPLICAS, MAX_REPLICAS = 2, 30
EVALUATION_SECONDS = 5
HORIZON_SECONDS = 10
SLO_RATIO = 1.75
EPSILON_DECAY = 200
# The promotion gate is the default one (5 windows of 20 decisions), and the policy opts in to
# carry the promotion its warm-start table earned in the simulator on other days
# (warmStart.carryPromotion, said on screen and in the conditions): the learner acts from the
# first evaluation. Earning it again on the replayed day is no demo: the gate also wants the
# learner's rolling violation rate (an EWMA over 2,000 decisions, starting at the aim 0.7 %)
# no higher than the HPA formula's or the aim, so one near miss of its choice in the first
# windows (seen: 0.88 against 0.875 at the replay's first rise) loses every window for the
# next ~140 decisions, 12 minutes here; a shortened gate (2 windows of 6) won within 110 s in
# 5 of 6 runs, and in 50 of 100 simulated replays with 3 % noise.
CARRY_PROMOTION = True
# NB: not "shop-qtable", the name of the policy's own stored table (which would be restored as
# the policy's, promotion and all, instead of warm-starting).
QTABLE_CONFIGMAP = "shop-pretrained"


def say(step: int, message: str) -> None:
    print(f"[{step}/{STEPS}] {message}", flush=True)


def build_binaries(script: str) -> Path:
    """Run hack/<script>, echoing its progress and a heartbeat during long builds."""
    proc = subprocess.Popen(
        [str(ROOT / "hack" / script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(60):
            print(
                f"      … still building ({(time.monotonic() - started) / 60:.0f} min)", flush=True
            )

    threading.Thread(target=heartbeat, daemon=True).start()
    if proc.stderr is None or proc.stdout is None:  # both are pipes; for the type checker
        raise SystemExit(f"demo: no output from hack/{script}")
    for line in proc.stderr:
        print(f"      {line.rstrip()}", flush=True)
    out = proc.stdout.read().strip().splitlines()
    done.set()
    if proc.wait() != 0 or not out:
        raise SystemExit(f"demo: hack/{script} failed (see above)")
    return Path(out[-1])


def scaling_policy() -> dict[str, Any]:
    return {
        "apiVersion": "nimbusguard.io/v1",
        "kind": "ScalingPolicy",
        "metadata": {"name": "shop"},
        "spec": {
            "target": {
                "kind": "Deployment",
                "name": "shop",
                "cluster": "member",
                "namespace": NAMESPACE,
            },
            "scaling": {
                "minReplicas": MIN_REPLICAS,
                "maxReplicas": MAX_REPLICAS,
                # No extra cooldown and the HPA's default behavior (scale-down stabilization
                # 300 s): the HPA formula here is the HPA as its users run it, and the world
                # the warm-start table was trained in.
                "cooldownPeriod": EVALUATION_SECONDS,
                "evaluationInterval": EVALUATION_SECONDS,
            },
            "metrics": {
                "prometheus": {
                    # Approved by the operator's installer (hack/demo/operator.py).
                    "endpoint": operator.ENDPOINT,
                    "query": 'max(demo_utilization{series="shop"})',
                    "targetValue": TARGET_UTILIZATION,
                    "metricType": "Value",
                }
            },
            "aiConfig": {
                "decisionHorizonSeconds": HORIZON_SECONDS,
                "sloRatio": SLO_RATIO,
                "qLearning": {
                    "epsilonDecayDecisions": EPSILON_DECAY,
                    "warmStart": {
                        "configMapName": QTABLE_CONFIGMAP,
                        "carryPromotion": CARRY_PROMOTION,
                    },
                },
            },
        },
    }


class Replay:
    """The replayed day's clock: it stands at the day's start until `start()` (the policy's
    creation), so the operator's first evaluation sees the load the workload was sized for,
    however long the operator took to start."""

    def __init__(self, day: trace_mod.CompressedDay) -> None:
        self.day = day
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def demand(self) -> float:
        return self.day.at(self.elapsed)


class ReadyReplicas:
    """Ready replicas of the target, read from the member API server at most once a second."""

    def __init__(self, api: Any) -> None:
        self._apps: Any = kubernetes.client.AppsV1Api(api)
        self._lock = threading.Lock()
        self._value, self._at = 0, 0.0
        self.replicas = 0

    def get(self) -> int:
        with self._lock:
            if time.monotonic() - self._at >= 1.0:
                dep = self._apps.read_namespaced_deployment("shop", NAMESPACE)
                self._value = int(dep.status.ready_replicas or 0)
                self.replicas = int(dep.spec.replicas or 0)
                self._at = time.monotonic()
            return self._value


def promotion_text(table: warmstart.Table) -> str:
    """Who acts first and why, as the policy's spec and the table's promotion state make it."""
    gate = f"{table.windows} windows of {table.window_decisions} decisions"
    days = ", ".join(str(d) for d in table.days)
    if CARRY_PROMOTION and table.phase == "Active":
        return (
            f"carried over from the warm start (warmStart.carryPromotion: true): in the "
            f"simulator on days {days} the learner beat the HPA formula in "
            f"{table.windows_beaten} consecutive windows of {table.window_decisions} decisions "
            "(the default gate), so it acts from the first evaluation, not promoted on the "
            "replayed day; it hands back to the HPA formula if it falls behind it here"
        )
    why = (
        f"the table was saved {table.phase}: no promotion to carry over"
        if CARRY_PROMOTION
        else "warmStart.carryPromotion: false"
    )
    return (
        f"the HPA formula acts first; the learner takes over after beating it in {gate} on "
        f"the replayed day ({why})"
    )


def setup(args: argparse.Namespace) -> warmstart.Setup:
    return warmstart.Setup(
        replay_day=args.day,
        speed=args.speed,
        demand_min=args.demand_min,
        demand_max=args.demand_max,
        min_replicas=MIN_REPLICAS,
        max_replicas=MAX_REPLICAS,
        evaluation_seconds=EVALUATION_SECONDS,
        horizon_seconds=HORIZON_SECONDS,
        target_utilization=TARGET_UTILIZATION,
        slo_ratio=SLO_RATIO,
        epsilon_decay_decisions=EPSILON_DECAY,
    )


def run(args: argparse.Namespace) -> int:
    day = trace_mod.load_day(
        args.day, speed=args.speed, demand_min=args.demand_min, demand_max=args.demand_max
    )
    in_pod = not args.host_operator
    say(
        1,
        "control-plane binaries"
        + (" and the real node's kubelet and containerd" if in_pod else "")
        + " (the first run builds them from the Go module proxy, about 20 minutes on 2 cores; "
        "later runs take no time)",
    )
    build_binaries("envtest.sh")
    if in_pod:
        build_binaries("realnode-binaries.sh")
    say(2, f"warm start: training a Q-table in the simulator on other days than day {args.day}")
    table = warmstart.train(setup(args))
    days = ", ".join(str(d) for d in table.days)
    warm = (
        f"Q-table trained in the simulator on days {days} of the trace (day {args.day} is "
        f"replayed, never trained on): {table.states} states, {table.updates} updates"
    )
    print(
        f"      {warm} "
        + ("(cached)" if table.cached else f"(trained in {table.seconds:.0f} s, now cached)"),
        flush=True,
    )
    promotion = promotion_text(table)
    print(
        f"      the policy: HPA target {TARGET_UTILIZATION:.0%} utilization (a safe setting), "
        f"service level broken above {TARGET_UTILIZATION * SLO_RATIO:.1%}",
        flush=True,
    )
    print(f"      promotion: {promotion}", flush=True)
    if in_pod:
        say(
            3,
            f"building the operator image {operator.IMAGE} from this checkout (make "
            "docker-build; the first run also makes its Debian base with mmdebstrap and "
            "installs the dependencies, several minutes; later runs take seconds)",
        )
        try:
            seconds = incluster.build_image(operator.IMAGE)
        except incluster.InClusterError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        print(f"      built in {seconds:.0f} s", flush=True)
    else:
        say(3, "operator image: none, the operator runs as a host process (--host-operator)")
    workdir = Path(tempfile.mkdtemp(prefix="nimbusguard-demo-"))
    exporter = loadgen.LoadExporter("demo_utilization", "Replayed utilization per replica.")
    try:
        say(4, "starting two local clusters: hub" + (" with a real node" if in_pod else "")
            + " and member")  # fmt: skip
        with LocalClusters(
            ("hub", "member"), progress=lambda m: print(f"      {m}"), real_node=in_pod
        ) as clusters:
            kubeconfig = clusters.kubeconfig
            print(f"      clusters' state: {kubeconfig.parent}", flush=True)
            hub = kubernetes.config.new_client_from_config(str(kubeconfig), context="hub")  # type: ignore[no-untyped-call]
            member = kubernetes.config.new_client_from_config(str(kubeconfig), context="member")  # type: ignore[no-untyped-call]
            ready = ReadyReplicas(member)
            replay = Replay(day)
            exporter.set("shop", lambda: replay.demand() / max(ready.get(), 1))
            say(5, f"starting Prometheus, scraping the trace replay on {exporter.target}")
            scrape = [{"job_name": "demo", "static_configs": [{"targets": [exporter.target]}]}]
            with LocalPrometheus(scrape) as prom:
                say(6, "installing the ScalingPolicy CRD and the warm-start ConfigMap in the hub")
                subprocess.run(
                    [
                        str(clusters.kubectl),
                        f"--kubeconfig={kubeconfig}",
                        "--context=hub",
                        "apply",
                        "--server-side",
                        "-f",
                        str(CRD),
                    ],
                    check=True,
                    capture_output=True,
                )
                for api in (hub, member):
                    core: Any = kubernetes.client.CoreV1Api(api)
                    core.create_namespace({"metadata": {"name": NAMESPACE}})
                _wait_for_default_sa(hub)
                hub_core: Any = kubernetes.client.CoreV1Api(hub)
                hub_core.create_namespaced_config_map(
                    NAMESPACE,
                    {
                        "metadata": {"name": QTABLE_CONFIGMAP},
                        "binaryData": {"qtable.npz": base64.b64encode(table.data).decode()},
                    },
                )
                initial = warmstart.initial_replicas(setup(args), day)
                say(
                    7,
                    f"deploying the workload 'shop' in the member cluster: {initial} replicas, "
                    f"what {day.clock(0)} needs (as if an autoscaler had been running)",
                )
                _wait_for_default_sa(member)
                apps: Any = kubernetes.client.AppsV1Api(member)
                apps.create_namespaced_deployment(
                    NAMESPACE, workloads.deployment("shop", initial, cpu="1")
                )
                where = (
                    "as a Pod on the real node (config/default, Prometheus approved at "
                    "10.0.0.1, forwarded to its loopback port)"
                    if in_pod
                    else "as a host process"
                )
                say(8, f"starting the operator {where} (log: {workdir / 'operator.log'})")
                running = (
                    operator.in_pod(
                        clusters, hub, member, workdir, urlparse(prom.url).port or 0, NAMESPACE
                    )
                    if in_pod
                    else operator.host_process(kubeconfig, workdir, prom.url, NAMESPACE)
                )
                # The summary is read once the operator has stopped (fenced, its tables
                # written), so the policy's status and its Events are final and agree.
                tally: view.Tally | None = None
                try:
                    with running:
                        say(9, "creating the ScalingPolicy in the hub, for the member cluster")
                        _wait_for_crd(hub)
                        _wait_for_ready_replicas(ready, initial)
                        replay.start()
                        custom: Any = kubernetes.client.CustomObjectsApi(hub)
                        custom.create_namespaced_custom_object(
                            "nimbusguard.io", "v1", NAMESPACE, "scalingpolicies", scaling_policy()
                        )
                        print(yaml.safe_dump(scaling_policy()["spec"], sort_keys=False))
                        tally = view.Tally(SLO_RATIO)
                        _watch(hub, ready, replay, args.duration, tally, warm, promotion)
                finally:
                    if tally is not None:
                        _summary(hub, tally, args.record)
    except (LocalClusterError, incluster.InClusterError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping", flush=True)
    finally:
        exporter.close()
        # The clusters and processes are gone; the operator's log is kept for reading after.
        print(f"demo: the operator's log is kept at {workdir / 'operator.log'}", flush=True)
        print("demo: everything stopped and removed", flush=True)
    return 0


def _wait_for_default_sa(api: Any) -> None:
    core: Any = kubernetes.client.CoreV1Api(api)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            core.read_namespaced_service_account("default", NAMESPACE)
            return
        except kubernetes.client.ApiException:
            time.sleep(0.25)
    raise SystemExit("demo: the member cluster made no default ServiceAccount in 60 s")


def _wait_for_crd(api: Any) -> None:
    ext: Any = kubernetes.client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition("scalingpolicies.nimbusguard.io")
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            return
        time.sleep(0.25)
    raise SystemExit("demo: the CRD was not Established in 60 s")


def _wait_for_ready_replicas(ready: ReadyReplicas, replicas: int) -> None:
    deadline = time.monotonic() + 120
    while ready.get() < replicas:
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: the workload had not {replicas} ready replicas in 120 s")
        time.sleep(0.5)


def _watch(
    hub: Any,
    ready: ReadyReplicas,
    replay: Replay,
    duration: float | None,
    tally: view.Tally,
    warm: str,
    promotion: str,
) -> None:
    """The live view on a terminal; otherwise one log line per decision."""
    custom: Any = kubernetes.client.CustomObjectsApi(hub)
    interactive = sys.stdout.isatty()
    end = None if duration is None else time.monotonic() + duration
    acting: str | None = None
    while end is None or time.monotonic() < end:
        elapsed, day = replay.elapsed, replay.day
        policy = custom.get_namespaced_custom_object(
            "nimbusguard.io", "v1", NAMESPACE, "scalingpolicies", "shop"
        )
        ready_now = ready.get()
        record = view.decision_record(policy, day.clock(elapsed), day.at(elapsed))
        fresh = record is not None and tally.add_decision(record)
        last = tally.decisions[-1] if tally.decisions else None
        tally.add_sample(time.monotonic(), ready.replicas, None if last is None else last["hpa"])
        if interactive:
            screen = view.render(
                clock=day.clock(elapsed),
                demand=day.at(elapsed),
                target_utilization=TARGET_UTILIZATION,
                policy=policy,
                replicas=ready.replicas,
                ready=ready_now,
                summary=tally.summary([]),
                promotion=promotion,
                warm_start=warm,
            )
            print(view.CLEAR + screen, flush=True)
        else:
            handover = view.handover_line(policy, acting)
            if handover:
                print(handover, flush=True)
            if fresh and record is not None:
                print(view.one_line(record), flush=True)
        acting = (policy.get("status") or {}).get("acting") or acting
        time.sleep(1.0)


def _summary(hub: Any, tally: view.Tally, record: Path | None) -> None:
    """The scale Events the operator posted (the API server's record of what it did) and the
    summary; with --record, everything it was computed from, as JSON."""
    core: Any = kubernetes.client.CoreV1Api(hub)
    listed = core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=ScalingPolicy,involvedObject.name=shop"
    )
    events = [
        {
            "reason": e.reason,
            "message": e.message or "",
            "time": str(e.event_time or e.last_timestamp or e.first_timestamp),
        }
        for e in listed.items
    ]
    summary = tally.summary(events)
    print(view.summary_text(summary, SLO_RATIO), flush=True)
    if record is not None:
        custom: Any = kubernetes.client.CustomObjectsApi(hub)
        policy = custom.get_namespaced_custom_object(
            "nimbusguard.io", "v1", NAMESPACE, "scalingpolicies", "shop"
        )
        data = {
            "summary": summary,
            "status": policy.get("status") or {},
            "slo_ratio": SLO_RATIO,
            "samples": tally.samples,
            "decisions": tally.decisions,
            "events": events,
        }
        record.write_text(json.dumps(data, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hack.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument("--day", type=int, default=5, help="trace day to replay (default: 5)")
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="trace seconds per wall second (default: 60, a day in 24 min)",
    )
    parser.add_argument("--demand-min", type=float, default=2.0, help="cores at the day's low")
    parser.add_argument("--demand-max", type=float, default=16.0, help="cores at the day's peak")
    parser.add_argument(
        "--host-operator",
        action="store_true",
        help="run the operator as a host process instead of a Pod on the real node "
        "(no image to build: faster to iterate on the operator's code)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="write the decisions, samples, Events and summary here as JSON (for tests)",
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except trace_mod.TraceError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: NimbusGuard scaling a member cluster's workload from a hub, live.

Builds the control-plane binaries if needed (the first time takes a while), starts two local
clusters (hub and member) and a real Prometheus, installs the CRD, deploys a workload in the
member cluster, replays a compressed day of the Alibaba 2018 trace as its load, creates a
ScalingPolicy in the hub, runs the operator, and shows what it sees and decides until Ctrl-C
(or --duration). Everything it started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from hack import loadgen, workloads
from hack.demo import trace as trace_mod, view
from hack.localcluster import LocalClusterError, LocalClusters, LocalPrometheus

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "config" / "crd" / "bases" / "nimbusguard.io_scalingpolicies.yaml"
NAMESPACE = "demo"
TARGET_UTILIZATION = 0.7
STEPS = 7


def say(step: int, message: str) -> None:
    print(f"[{step}/{STEPS}] {message}", flush=True)


def build_binaries() -> Path:
    """Run hack/envtest.sh, echoing its progress and a heartbeat during long builds."""
    proc = subprocess.Popen(
        [str(ROOT / "hack" / "envtest.sh")],
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
        raise SystemExit("demo: no output from hack/envtest.sh")
    for line in proc.stderr:
        print(f"      {line.rstrip()}", flush=True)
    out = proc.stdout.read().strip().splitlines()
    done.set()
    if proc.wait() != 0 or not out:
        raise SystemExit("demo: building the control-plane binaries failed (see above)")
    return Path(out[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scaling_policy(prometheus_url: str) -> dict[str, Any]:
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
                "minReplicas": 2,
                "maxReplicas": 30,
                "cooldownPeriod": 15,
                "evaluationInterval": 5,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
            },
            "metrics": {
                "prometheus": {
                    "serverAddress": prometheus_url,
                    "query": 'max(demo_utilization{series="shop"})',
                    "targetValue": TARGET_UTILIZATION,
                    "metricType": "Value",
                }
            },
            "aiConfig": {"qLearning": {"epsilonDecayDecisions": 200}},
        },
    }


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


@contextlib.contextmanager
def operator(kubeconfig: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (workdir / "operator.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nimbusguard.cli",
            "run",
            f"--kubeconfig={kubeconfig}",
            "--context=hub",
            f"--member-kubeconfig={kubeconfig}",
            f"--bind-address=127.0.0.1:{free_port()}",
            f"--namespace={NAMESPACE}",
            f"--operator-namespace={NAMESPACE}",
            # The demo's Prometheus runs on loopback; the operator queries only allowed ones.
            "--allow-prometheus-address=http://127.0.0.1:*",
            "--log-format=text",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def run(args: argparse.Namespace) -> int:
    day = trace_mod.load_day(
        args.day, speed=args.speed, demand_min=args.demand_min, demand_max=args.demand_max
    )
    say(
        1,
        "control-plane binaries (the first run builds them from the Go module proxy, "
        "about 20 minutes on 2 cores; later runs take no time)",
    )
    build_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="nimbusguard-demo-"))
    exporter = loadgen.LoadExporter("demo_utilization", "Replayed utilization per replica.")
    try:
        say(2, "starting two local clusters: hub and member")
        with LocalClusters(("hub", "member"), progress=lambda m: print(f"      {m}")) as clusters:
            kubeconfig = clusters.kubeconfig
            hub = kubernetes.config.new_client_from_config(str(kubeconfig), context="hub")  # type: ignore[no-untyped-call]
            member = kubernetes.config.new_client_from_config(str(kubeconfig), context="member")  # type: ignore[no-untyped-call]
            ready = ReadyReplicas(member)
            started = time.monotonic()
            exporter.set("shop", lambda: day.at(time.monotonic() - started) / max(ready.get(), 1))
            say(3, f"starting Prometheus, scraping the trace replay on {exporter.target}")
            scrape = [{"job_name": "demo", "static_configs": [{"targets": [exporter.target]}]}]
            with LocalPrometheus(scrape) as prom:
                say(4, "installing the ScalingPolicy CRD in the hub")
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
                say(5, "deploying the workload 'shop' (2 replicas) in the member cluster")
                _wait_for_default_sa(member)
                apps: Any = kubernetes.client.AppsV1Api(member)
                apps.create_namespaced_deployment(
                    NAMESPACE, workloads.deployment("shop", 2, cpu="1")
                )
                say(6, f"starting the operator (log: {workdir / 'operator.log'})")
                with operator(kubeconfig, workdir):
                    say(7, "creating the ScalingPolicy in the hub, targeting the member cluster")
                    _wait_for_crd(hub)
                    custom: Any = kubernetes.client.CustomObjectsApi(hub)
                    custom.create_namespaced_custom_object(
                        "nimbusguard.io",
                        "v1",
                        NAMESPACE,
                        "scalingpolicies",
                        scaling_policy(prom.url),
                    )
                    print(yaml.safe_dump(scaling_policy(prom.url)["spec"], sort_keys=False))
                    _watch(hub, ready, day, started, args.duration)
    except LocalClusterError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping", flush=True)
    finally:
        exporter.close()
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


def _watch(
    hub: Any,
    ready: ReadyReplicas,
    day: trace_mod.CompressedDay,
    started: float,
    duration: float | None,
) -> None:
    custom: Any = kubernetes.client.CustomObjectsApi(hub)
    interactive = sys.stdout.isatty()
    end = None if duration is None else time.monotonic() + duration
    while end is None or time.monotonic() < end:
        elapsed = time.monotonic() - started
        policy = custom.get_namespaced_custom_object(
            "nimbusguard.io", "v1", NAMESPACE, "scalingpolicies", "shop"
        )
        ready_now = ready.get()
        if interactive:
            screen = view.render(
                clock=day.clock(elapsed),
                demand=day.at(elapsed),
                target_utilization=TARGET_UTILIZATION,
                policy=policy,
                replicas=ready.replicas,
                ready=ready_now,
            )
            print(view.CLEAR + screen, flush=True)
        else:
            print(
                view.one_line(
                    clock=day.clock(elapsed),
                    demand=day.at(elapsed),
                    policy=policy,
                    replicas=ready.replicas,
                ),
                flush=True,
            )
        time.sleep(2.0)


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
    args = parser.parse_args(argv)
    try:
        return run(args)
    except trace_mod.TraceError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

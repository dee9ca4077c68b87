"""The demo's operator: by default a Pod on the hub's real node, installed from config/default
with the image built from this checkout, as users run it; with --host-operator a host process
(faster to iterate on: no image to build).

The demo's Prometheus listens on 127.0.0.1 only. The Pod reaches it the way the real node's
pods reach the API servers: at 10.0.0.1:<port>, DNATed to the host's loopback by a rule in
the node's own nat chain (`RealNode.forward_host_port`), so nothing listens beyond loopback.
The operator learns the address the way a user approves a Prometheus: the endpoint `demo` in
the ConfigMap nimbusguard-metric-endpoints (the host process reads the same list from a file).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from hack import incluster
from hack.localcluster import LocalClusters, ports

ENDPOINT = "demo"  # the policy's spec.metrics.prometheus.endpoint
IMAGE = "localhost/nimbusguard-operator:demo"


def endpoints(url: str, namespace: str) -> str:
    """The approved-endpoints list (endpoints.yaml) with the demo's Prometheus."""
    entry = {"name": ENDPOINT, "url": url, "namespaces": [namespace]}
    return yaml.safe_dump({"endpoints": [entry]}, sort_keys=False)


@contextlib.contextmanager
def host_process(
    kubeconfig: Path, workdir: Path, prometheus_url: str, namespace: str
) -> Iterator[None]:
    """`nimbusguard run` on this host against the hub, for the demo's namespace only."""
    listed = workdir / "endpoints.yaml"
    listed.write_text(endpoints(prometheus_url, namespace))
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
            f"--bind-address=127.0.0.1:{ports.free_ports(1)[0]}",
            f"--namespace={namespace}",
            f"--operator-namespace={namespace}",
            f"--metric-endpoints={listed}",
            "--log-format=text",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def in_pod(
    clusters: LocalClusters,
    hub_api: Any,
    member_api: Any,
    workdir: Path,
    prometheus_port: int,
    namespace: str,
) -> Iterator[None]:
    """config/default on the hub with the image on the real node, the member identity
    (config/member, `nimbusguard member-rbac`, its kubeconfig Secret), the endpoint list;
    Ready through the kubelet's probes, or InClusterError with the Pod's events and logs.
    Its log is followed into `workdir/operator.log` (JSON, as shipped)."""
    node = clusters.real_node
    if node is None:
        raise incluster.InClusterError("the clusters were started without the real node")
    node.load_images([IMAGE])
    address = node.forward_host_port(prometheus_port)
    kubectl = incluster.Kubectl(clusters.kubectl, clusters.kubeconfig)
    incluster.apply(kubectl, "member", incluster.kustomize_docs(
        kubectl, "member", incluster.CONFIG / "member"))  # fmt: skip
    bindings = subprocess.run(
        [sys.executable, "-m", "nimbusguard.cli", "member-rbac", "--cluster", "member",
         "--namespace", namespace],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    kubectl("member", "apply", "--server-side", "-f", "-", stdin=bindings)
    token = incluster.token(member_api, incluster.MEMBER_SA, incluster.SYSTEM)
    member = incluster.member_kubeconfig(clusters.kubeconfig, "member", token)
    listed = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": incluster.ENDPOINTS_CONFIGMAP, "namespace": incluster.SYSTEM},
        "data": {"endpoints.yaml": endpoints(f"http://{address}", namespace)},
    }
    docs = incluster.render(kubectl, "hub", "default", IMAGE)
    incluster.install(kubectl, "hub", hub_api, docs, member, extra=[listed])
    (pod,) = incluster.wait_ready_pods(kubectl, "hub", hub_api, 1)
    name = pod.metadata.name
    print(f"      operator Pod {name} Ready on node {pod.spec.node_name}", flush=True)
    with (workdir / "operator.log").open("wb") as log:
        follow = subprocess.Popen(
            [str(clusters.kubectl), f"--kubeconfig={clusters.kubeconfig}", "--context=hub",
             "logs", "-f", "-n", incluster.SYSTEM, name],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield
        finally:
            _stop(kubectl, hub_api)
            follow.terminate()
            try:
                follow.wait(timeout=10)
            except subprocess.TimeoutExpired:
                follow.kill()


def _stop(kubectl: incluster.Kubectl, hub_api: Any, timeout: float = 60) -> None:
    """Scale the operator to zero and wait until its Pod is gone: it stops as on any rollout.
    A failure is said, not raised: the demo is ending and removes the clusters anyway."""
    core: Any = kubernetes.client.CoreV1Api(hub_api)
    try:
        kubectl("hub", "scale", "-n", incluster.SYSTEM, "--replicas=0",
                "deployment/nimbusguard-controller-manager")  # fmt: skip
        deadline = time.monotonic() + timeout
        while core.list_namespaced_pod(incluster.SYSTEM, label_selector=incluster.SELECTOR).items:
            if time.monotonic() > deadline:
                raise incluster.InClusterError(f"the operator Pod did not stop in {timeout:.0f} s")
            time.sleep(0.5)
    except (incluster.InClusterError, kubernetes.client.ApiException) as exc:
        print(f"demo: stopping the operator: {exc}", file=sys.stderr, flush=True)

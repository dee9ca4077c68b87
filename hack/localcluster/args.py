"""Command lines of the components of one cluster (pure: paths and ports in, argv out).

Everything listens on the layout's loopback address only. The choices that matter:
- kube-apiserver: TLS with the cluster CA, client certificates for authentication, RBAC
  authorization, service-account keys, and the front-proxy (`--requestheader-*`,
  `--proxy-client-*`) flags the aggregator needs to serve metrics.k8s.io from metrics-server.
  `--endpoint-reconciler-type=none` keeps 127.0.0.1 out of the `kubernetes` Endpoints.
- kube-controller-manager and kube-scheduler: no leader election (one replica each), health
  endpoints open to anonymous callers so the launcher can probe them.
- kwok: manages only nodes annotated `kwok.x-k8s.io/node=fake`; serves kubelet-style metrics
  over TLS on its node port, which it also writes into the nodes' status for metrics-server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hack.localcluster import layout as layout_mod
from hack.localcluster.binaries import Binaries
from hack.localcluster.layout import ClusterLayout

SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FAKE_NODE_VALUE = "fake"
# How long the controller manager waits for a node's lease before it declares the node lost
# (see controller_manager): longer than the longest API-server outage an e2e test makes.
NODE_MONITOR_GRACE = "5m"
_ALWAYS_ALLOW = "/healthz,/readyz,/livez,/metrics"


def etcd(layout: ClusterLayout, binaries: Binaries) -> list[str]:
    """One-member etcd; explicit peer URLs so two clusters never clash on :2380."""
    client = f"http://{layout.host}:{layout.ports.etcd_client}"
    peer = f"http://{layout.host}:{layout.ports.etcd_peer}"
    return [
        str(binaries.path(layout_mod.ETCD)),
        f"--name={layout.name}",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={layout.name}={peer}",
        # Test data: losing it on a crash is fine, waiting for fsync is not.
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver(layout: ClusterLayout, binaries: Binaries) -> list[str]:
    files = layout.pki
    return [
        str(binaries.path(layout_mod.APISERVER)),
        f"--etcd-servers=http://{layout.host}:{layout.ports.etcd_client}",
        f"--bind-address={layout.host}",
        f"--advertise-address={layout.host}",
        f"--secure-port={layout.ports.apiserver}",
        f"--tls-cert-file={files.serving_cert}",
        f"--tls-private-key-file={files.serving_key}",
        f"--client-ca-file={files.ca_cert}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={files.service_account_public}",
        f"--service-account-signing-key-file={files.service_account_key}",
        f"--requestheader-client-ca-file={files.front_proxy_ca_cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={files.front_proxy_client_cert}",
        f"--proxy-client-key-file={files.front_proxy_client_key}",
        "--allow-privileged=true",
        # The real node's name does not resolve; its InternalIP is where its kubelet listens.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ]


def _component_auth(layout: ClusterLayout) -> list[str]:
    kubeconfig = layout.kubeconfig
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--authorization-always-allow-paths={_ALWAYS_ALLOW}",
        "--leader-elect=false",
        f"--bind-address={layout.host}",
    ]


def controller_manager(layout: ClusterLayout, binaries: Binaries) -> list[str]:
    files = layout.pki
    return [
        str(binaries.path(layout_mod.CONTROLLER_MANAGER)),
        *_component_auth(layout),
        f"--secure-port={layout.ports.controller_manager}",
        f"--root-ca-file={files.ca_cert}",
        f"--service-account-private-key-file={files.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Faster reactions than the defaults, for tests that wait on them.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        # NB: kwok is the fake nodes' kubelet, and its pod stage readies Pending pods only. A
        # node declared lost (its lease unseen for the grace period, 50 s by default, e.g.
        # while a chaos test froze the API server for 60 s) has its Running pods marked
        # NotReady, and nothing ever readies them again. Longer than any outage a test makes.
        f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
        "--profiling=false",
    ]


def scheduler(layout: ClusterLayout, binaries: Binaries) -> list[str]:
    return [
        str(binaries.path(layout_mod.SCHEDULER)),
        *_component_auth(layout),
        f"--secure-port={layout.ports.scheduler}",
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        "--profiling=false",
    ]


def kwok(layout: ClusterLayout, binaries: Binaries, configs: Sequence[Path]) -> list[str]:
    files = layout.pki
    port = layout.ports.kwok
    return [
        str(binaries.path(layout_mod.KWOK)),
        f"--kubeconfig={layout.kubeconfig}",
        *[f"--config={path}" for path in configs],
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}={FAKE_NODE_VALUE}",
        f"--node-ip={layout.host}",
        f"--node-port={port}",
        f"--server-address={layout.host}:{port}",
        f"--tls-cert-file={files.serving_cert}",
        f"--tls-private-key-file={files.serving_key}",
        f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40",
    ]


def metrics_server(layout: ClusterLayout, binaries: Binaries) -> list[str]:
    files = layout.pki
    kubeconfig = layout.kubeconfig
    return [
        str(binaries.path(layout_mod.METRICS_SERVER)),
        f"--bind-address={layout.host}",
        f"--secure-port={layout.ports.metrics_server}",
        f"--cert-dir={layout.metrics_server_certs}",
        f"--tls-cert-file={files.serving_cert}",
        f"--tls-private-key-file={files.serving_key}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # kwok serves the kubelet's resource metrics on the node port, over TLS, at 127.0.0.1.
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--kubelet-insecure-tls",
        "--metric-resolution=10s",
        "--kubelet-request-timeout=5s",
    ]

"""Component command lines: loopback only, the flags each job depends on, no duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.localcluster import args
from hack.localcluster.binaries import Binaries
from hack.localcluster.layout import ClusterLayout, Ports

LAYOUT = ClusterLayout(
    "member", Path("/w/member"), Ports(21001, 21002, 21003, 21004, 21005, 21006, 21007)
)
BINARIES = Binaries(Path("/bin-dir"))
CONFIGS = [Path("/bin-dir/kwok-stages/pod-ready.yaml"), Path("/bin-dir/kwok-metrics/m.yaml")]


def flags(argv: list[str]) -> dict[str, str]:
    """--name=value flags as a dict (bare --name flags map to "")."""
    pairs = [arg[2:].partition("=") for arg in argv[1:]]
    return {name: value for name, _, value in pairs}


ALL = {
    "etcd": args.etcd(LAYOUT, BINARIES),
    "kube-apiserver": args.apiserver(LAYOUT, BINARIES),
    "kube-controller-manager": args.controller_manager(LAYOUT, BINARIES),
    "kube-scheduler": args.scheduler(LAYOUT, BINARIES),
    "kwok": args.kwok(LAYOUT, BINARIES, CONFIGS),
    "metrics-server": args.metrics_server(LAYOUT, BINARIES),
}


@pytest.mark.parametrize("component", sorted(ALL))
def test_binary_comes_from_the_binaries_dir(component: str) -> None:
    assert ALL[component][0] == f"/bin-dir/{component}"


@pytest.mark.parametrize("component", sorted(set(ALL) - {"kwok"}))
def test_no_flag_is_given_twice(component: str) -> None:
    names = [arg.partition("=")[0] for arg in ALL[component][1:]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("component", sorted(ALL))
def test_everything_listens_on_loopback_only(component: str) -> None:
    listening = {
        name: value
        for name, value in flags(ALL[component]).items()
        if name in {"bind-address", "advertise-address", "server-address", "node-ip"}
        or name.startswith("listen-")
    }
    assert listening, f"{component} names no listen address"
    for value in listening.values():
        assert value.removeprefix("http://").startswith("127.0.0.1"), (component, value)


def test_etcd_names_its_peer_port_so_clusters_do_not_clash() -> None:
    etcd = flags(ALL["etcd"])

    assert etcd["listen-peer-urls"] == "http://127.0.0.1:21002"
    assert etcd["initial-cluster"] == "member=http://127.0.0.1:21002"
    assert etcd["listen-client-urls"] == "http://127.0.0.1:21001"


def test_apiserver_uses_tls_rbac_service_accounts_and_the_front_proxy() -> None:
    api = flags(ALL["kube-apiserver"])

    assert api["secure-port"] == "21003"
    assert api["etcd-servers"] == "http://127.0.0.1:21001"
    assert api["authorization-mode"] == "RBAC"
    assert api["client-ca-file"] == "/w/member/pki/ca.crt"
    assert api["service-account-signing-key-file"] == "/w/member/pki/sa.key"
    assert api["service-account-key-file"] == "/w/member/pki/sa.pub"
    assert api["requestheader-client-ca-file"] == "/w/member/pki/front-proxy-ca.crt"
    assert api["requestheader-allowed-names"] == "front-proxy-client"
    assert api["proxy-client-cert-file"] == "/w/member/pki/front-proxy-client.crt"


def test_controllers_run_alone_and_sign_service_account_tokens() -> None:
    kcm = flags(ALL["kube-controller-manager"])
    scheduler = flags(ALL["kube-scheduler"])

    assert kcm["leader-elect"] == scheduler["leader-elect"] == "false"
    assert kcm["kubeconfig"] == scheduler["kubeconfig"] == "/w/member/admin.kubeconfig"
    assert kcm["service-account-private-key-file"] == "/w/member/pki/sa.key"
    assert kcm["secure-port"] == "21004"
    assert scheduler["secure-port"] == "21005"
    assert "/healthz" in kcm["authorization-always-allow-paths"]


def test_kwok_manages_only_annotated_nodes_and_reads_every_config() -> None:
    argv = ALL["kwok"]
    kwok = flags(argv)

    assert kwok["manage-all-nodes"] == "false"
    assert kwok["manage-nodes-with-annotation-selector"] == "kwok.x-k8s.io/node=fake"
    assert kwok["node-port"] == "21006"
    assert kwok["server-address"] == "127.0.0.1:21006"
    assert [a for a in argv if a.startswith("--config=")] == [f"--config={p}" for p in CONFIGS]


def test_metrics_server_scrapes_kwok_on_the_node_status_port() -> None:
    metrics = flags(ALL["metrics-server"])

    assert metrics["secure-port"] == "21007"
    assert "kubelet-use-node-status-port" in metrics
    assert metrics["kubelet-preferred-address-types"] == "InternalIP"
    assert metrics["cert-dir"] == "/w/member/metrics-server"


def test_a_fake_node_outlives_an_api_server_frozen_for_a_minute() -> None:
    # kwok never readies a Running pod again once the node controller marked it NotReady
    # (test_member_hang freezes the member's API server for 60 s; the default grace is 50 s).
    grace = flags(ALL["kube-controller-manager"])["node-monitor-grace-period"]
    assert grace == args.NODE_MONITOR_GRACE == "5m"

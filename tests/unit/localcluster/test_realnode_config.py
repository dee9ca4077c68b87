"""The real node's configuration files: what this host needs is in them (pure rendering)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hack.localcluster import realnode_config as cfg

LAYOUT = cfg.RealNodeLayout(
    root=Path("/w/realnode"),
    containerd_root=Path("/cache/realnode-containerd"),
    subnet_index=42,
    kubelet_port=31001,
    kubelet_healthz_port=31002,
)


def test_containerd_uses_debians_runc_with_cgroupfs_and_its_own_directories() -> None:
    config = tomllib.loads(cfg.containerd_toml(LAYOUT, "localhost/pause:x"))
    assert config["version"] == 3
    assert config["root"] == "/cache/realnode-containerd"
    assert config["state"] == "/w/realnode/containerd-state"
    assert config["grpc"]["address"] == "/w/realnode/containerd-state/containerd.sock"
    plugins = config["plugins"]
    assert plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "localhost/pause:x"
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["netns_mounts_under_state_dir"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc == {
        "BinaryName": "/usr/sbin/runc",
        "Root": "/w/realnode/containerd-state/runc",
        "SystemdCgroup": False,
    }
    assert runtime["cni"] == {"bin_dirs": ["/usr/lib/cni"], "conf_dir": "/w/realnode/cni"}


def test_the_kubelet_accepts_cgroup_v1_and_taints_its_node() -> None:
    config = json.loads(cfg.kubelet_config(LAYOUT, Path("/w/hub/pki/ca.crt")))
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["address"] == "10.89.42.1"  # the bridge: a node IP cannot be loopback
    assert (config["port"], config["healthzPort"]) == (31001, 31002)
    assert config["containerRuntimeEndpoint"] == (
        "unix:///w/realnode/containerd-state/containerd.sock"
    )
    assert config["registerWithTaints"] == [
        {"key": cfg.TAINT_KEY, "value": "true", "effect": "NoSchedule"}
    ]
    args = cfg.kubelet_args(LAYOUT, Path("/bin/kubelet"))
    assert f"--hostname-override={cfg.NODE_NAME}" in args
    assert "--node-ip=10.89.42.1" in args


def test_pods_get_a_private_bridge_without_masquerading() -> None:
    (bridge, loopback) = json.loads(cfg.cni_conflist(LAYOUT))["plugins"]
    assert loopback == {"type": "loopback"}
    assert bridge["bridge"] == "ngbr42" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.89.42.0/24", "gateway": "10.89.42.1"}]]
    assert bridge["ipam"]["dataDir"] == "/w/realnode/ipam"


def test_pods_reach_the_hub_at_the_kubernetes_service_and_members_at_their_ports() -> None:
    rules = cfg.nat_rules(LAYOUT, {"hub": 30001, "member": 30002}, "hub")
    targets = {(r[r.index("--dport") + 1], r[-1]) for r in rules}
    assert targets == {
        ("443", "127.0.0.1:30001"),
        ("30001", "127.0.0.1:30001"),
        ("30002", "127.0.0.1:30002"),
    }
    assert all(r[:2] == ["-d", "10.0.0.1/32"] for r in rules)


def test_a_host_loopback_server_is_reached_at_the_same_port_of_10_0_0_1() -> None:
    """The demo's Prometheus stays on 127.0.0.1; the node's pods reach it at 10.0.0.1:port."""
    assert cfg.dnat_rule(9091, 9091) == [
        "-d", "10.0.0.1/32", "-p", "tcp", "--dport", "9091",
        "-j", "DNAT", "--to-destination", "127.0.0.1:9091",
    ]  # fmt: skip

"""Configuration files of the real node (pure: paths, names and ports in, file text out).

The real node is one kubelet with containerd 2.x, runc and the bridge CNI plugin, registered
in the hub cluster next to the kwok nodes. What it needs on this host, and why:
- kubelet: cgroup v1 here, so `failCgroupV1: false` (1.35+ refuses v1 otherwise) and the
  cgroupfs driver (no systemd). A node's IP cannot be loopback, so the node's address (and its
  API) is the pod bridge's, a host-only network; the API server calls it for logs without a
  client certificate, so anonymous requests are authorised: a test node.
- containerd: its own root, state and socket; runc from Debian with cgroupfs; pod network
  namespaces under its state dir, so a teardown finds everything under one directory.
- pods reach the API server as every pod does, at the `kubernetes` Service's ClusterIP
  (10.0.0.1:443), which a DNAT rule on the pod bridge sends to the API server on 127.0.0.1
  (`route_localnet`); the other clusters' API servers at 10.0.0.1:<their port>, the same way.
  Both addresses are in every local API server's certificate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "real-node"
TAINT_KEY = "nimbusguard.io/real-node"
NODE_LABEL = "nimbusguard.io/real-node"
CNI_BIN_DIR = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
SERVICE_IP = "10.0.0.1"
KUBERNETES_PORT = 443


@dataclass(frozen=True)
class RealNodeLayout:
    """Where the real node's files live, its network, and its ports.

    `root`: per bring-up (state, kubelet dir, logs). `containerd_root`: images and snapshots,
    kept across bring-ups so the images are imported once. `subnet_index` picks the pod /24
    (10.89.<index>.0/24) and names the bridge and the iptables chain.
    """

    root: Path
    containerd_root: Path
    subnet_index: int
    kubelet_port: int
    kubelet_healthz_port: int

    @property
    def state(self) -> Path:
        return self.root / "containerd-state"

    @property
    def socket(self) -> Path:
        return self.state / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.state / "runc"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def ipam_dir(self) -> Path:
        return self.root / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def bridge(self) -> str:
        return f"ngbr{self.subnet_index}"

    @property
    def chain(self) -> str:
        return f"NIMBUSGUARD-NODE-{self.subnet_index}"

    @property
    def subnet(self) -> str:
        return f"10.89.{self.subnet_index}.0/24"

    @property
    def gateway(self) -> str:
        return f"10.89.{self.subnet_index}.1"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"


def containerd_toml(layout: RealNodeLayout, sandbox_image: str) -> str:
    """containerd 2.x configuration (version 3)."""
    quoted = {
        "root": layout.containerd_root,
        "state": layout.state,
        "address": layout.socket,
        "ttrpc": f"{layout.socket}.ttrpc",
        "sandbox": sandbox_image,
        "runc": RUNC,
        "runc_root": layout.runc_root,
        "bin_dir": CNI_BIN_DIR,
        "conf_dir": layout.cni_conf_dir,
    }
    q = {key: json.dumps(str(value)) for key, value in quoted.items()}
    return f"""version = 3
root = {q["root"]}
state = {q["state"]}

[grpc]
  address = {q["address"]}

[ttrpc]
  address = {q["ttrpc"]}

[metrics]
  address = ""

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = {q["sandbox"]}

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    disable_apparmor = true
    # This VM forbids lowering oom_score_adj (the kubelet asks -998 for sandboxes).
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    netns_mounts_under_state_dir = true
    enable_criu = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = {q["runc"]}
          Root = {q["runc_root"]}
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [{q["bin_dir"]}]
      conf_dir = {q["conf_dir"]}

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
"""


def cni_conflist(layout: RealNodeLayout) -> str:
    """A bridge with host-local addresses on the node's /24; no masquerading (pods talk to
    this host only) and the bridge is the pods' gateway."""
    config = {
        "cniVersion": "1.0.0",
        "name": "nimbusguard-real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "isDefaultGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.ipam_dir),
                    "ranges": [[{"subnet": layout.subnet, "gateway": layout.gateway}]],
                },
            },
            {"type": "loopback"},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(layout: RealNodeLayout, ca_file: Path) -> str:
    """KubeletConfiguration (JSON is YAML)."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The node's address must not be loopback (the kubelet refuses it): the bridge's.
        "address": layout.gateway,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "cgroupDriver": "cgroupfs",
        # This host is on cgroup v1 (hybrid layout); kubelet 1.35+ refuses it otherwise.
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.socket}",
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        "podLogsDir": str(layout.pod_logs),
        "resolvConf": "/etc/resolv.conf",
        "maxPods": 20,
        "serializeImagePulls": False,
        # The machine is shared: never evict because another process filled the disk.
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "enableServer": True,
        "localStorageCapacityIsolation": False,
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_args(layout: RealNodeLayout, kubelet: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.kubelet_kubeconfig}",
        f"--root-dir={layout.kubelet_dir}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={layout.gateway}",
        f"--node-labels={NODE_LABEL}=true",
        "--v=1",
    ]


def containerd_args(layout: RealNodeLayout, containerd: Path) -> list[str]:
    return [str(containerd), f"--config={layout.containerd_config}", "--log-level=info"]


def nat_rules(
    layout: RealNodeLayout, apiserver_ports: Mapping[str, int], hub: str
) -> list[list[str]]:
    """iptables rules of the node's own nat chain: the hub's API server at the `kubernetes`
    Service (10.0.0.1:443), every cluster's also at 10.0.0.1:<its own port>."""
    targets = {KUBERNETES_PORT: apiserver_ports[hub], **{p: p for p in apiserver_ports.values()}}
    return [dnat_rule(port, target) for port, target in targets.items()]


def dnat_rule(port: int, target: int) -> list[str]:
    """Pods' 10.0.0.1:`port` to this host's 127.0.0.1:`target` (route_localnet is on)."""
    return [
        "-d", f"{SERVICE_IP}/32", "-p", "tcp", "--dport", str(port),
        "-j", "DNAT", "--to-destination", f"127.0.0.1:{target}",
    ]  # fmt: skip

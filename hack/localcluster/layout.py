"""Where one cluster's files live and which ports its components listen on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from hack.localcluster import pki
from hack.localcluster.ports import LOOPBACK

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"
METRICS_SERVER = "metrics-server"
# Start order; teardown goes the other way.
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, KWOK, METRICS_SERVER)


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one cluster's components."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    metrics_server: int

    @classmethod
    def count(cls) -> int:
        return len(fields(cls))

    @classmethod
    def from_list(cls, ports: list[int]) -> Ports:
        if len(ports) != cls.count() or len(set(ports)) != len(ports):
            raise ValueError(f"need {cls.count()} distinct ports, got {ports}")
        return cls(*ports)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def of(self, component: str) -> list[int]:
        """The ports `component` listens on (checked before it starts)."""
        return {
            ETCD: [self.etcd_client, self.etcd_peer],
            APISERVER: [self.apiserver],
            CONTROLLER_MANAGER: [self.controller_manager],
            SCHEDULER: [self.scheduler],
            KWOK: [self.kwok],
            METRICS_SERVER: [self.metrics_server],
        }[component]


@dataclass(frozen=True)
class ClusterLayout:
    """One cluster: its name, its directory under the work dir and its ports."""

    name: str
    root: Path
    ports: Ports
    host: str = LOOPBACK

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://{self.host}:{self.ports.apiserver}"

    @property
    def pki(self) -> pki.PKIFiles:
        return pki.PKIFiles(self.root / "pki")

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig with this cluster only (admin), used by its components."""
        return self.root / "admin.kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def metrics_server_certs(self) -> Path:
        return self.root / "metrics-server"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def label(self, component: str) -> str:
        """How errors name a component: `kube-apiserver of cluster member`."""
        return f"{component} of cluster {self.name}"

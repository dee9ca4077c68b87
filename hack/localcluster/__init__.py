"""Local Kubernetes clusters and Prometheus, built from source, for tests and the demo.

Library: `LocalClusters` (N clusters with one kubeconfig), `LocalPrometheus` (a real
Prometheus on a free loopback port). CLI: `python -m hack.localcluster up|status|down`.
See docs/local-clusters.md.
"""

from hack.localcluster.binaries import Binaries, locate
from hack.localcluster.clusters import ClusterInfo, ComponentStatus, LocalClusters
from hack.localcluster.errors import (
    ComponentError,
    LocalClusterError,
    MissingBinaryError,
    PortInUseError,
)
from hack.localcluster.prometheus import LocalPrometheus

__all__ = [
    "Binaries",
    "ClusterInfo",
    "ComponentError",
    "ComponentStatus",
    "LocalClusterError",
    "LocalClusters",
    "LocalPrometheus",
    "MissingBinaryError",
    "PortInUseError",
    "locate",
]

"""Where the control-plane binaries are: the directory `hack/envtest.sh` builds into."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hack.localcluster import errors

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVTEST = REPO_ROOT / "hack" / "envtest.sh"

CONTROL_PLANE = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
METRICS_SERVER = "metrics-server"
KUBECTL = "kubectl"


@dataclass(frozen=True)
class Binaries:
    """A directory holding the binaries, plus kwok's stage and metric files beside them."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def kubectl(self) -> Path:
        """The kubectl built from the same Kubernetes version as the servers."""
        return self.path(KUBECTL)

    def kwok_configs(self, *, metrics: bool) -> list[Path]:
        """kwok `--config` files: the node and pod stages, plus pod CPU/memory emulation
        (a Metric and a ClusterResourceUsage reading pod annotations) when `metrics`."""
        files = sorted((self.directory / "kwok-stages").glob("*.yaml"))
        if metrics:
            files += sorted((self.directory / "kwok-metrics").glob("*.yaml"))
        return files

    def check(self, names: Iterable[str]) -> None:
        """Raise MissingBinaryError naming the first of `names` that is not an executable here."""
        for name in names:
            path = self.path(name)
            if not (path.is_file() and path.stat().st_mode & 0o111):
                raise errors.MissingBinaryError(
                    f"{name}: binary not found at {path} (run `make envtest` to build it)"
                )
        if not self.kwok_configs(metrics=False):
            raise errors.MissingBinaryError(
                f"kwok: no stage files in {self.directory / 'kwok-stages'} "
                "(run `make envtest` to copy them)"
            )


def locate() -> Binaries:
    """The binaries `make envtest` built (or those in KUBEBUILDER_ASSETS), without building.

    Raises MissingBinaryError with envtest's explanation when something is missing.
    """
    try:
        done = subprocess.run(
            ["bash", str(ENVTEST), "--check"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise errors.MissingBinaryError(f"cannot run {ENVTEST} --check: {error}") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise errors.MissingBinaryError(reason[0])
    return Binaries(Path(lines[-1]))

"""One real node in the hub cluster: containerd 2.x + runc + bridge CNI + a kubelet.

The kwok nodes keep running the many simulated workloads; this node runs real containers, for
what must really run (the operator's own Pod, from the image `make docker-build` made). It is
tainted `nimbusguard.io/real-node=true:NoSchedule`, so only pods that tolerate it land there.

    node = RealNode.for_clusters(clusters)      # a started LocalClusters; hub = first name
    node.start()                                # Ready within the timeout, or ComponentError
    node.load_images(["localhost/nimbusguard-operator:e2e"])   # from podman, if changed
    ...
    node.stop()                                 # pods killed, mounts, bridge and rules gone

Files live in `<clusters workdir>/realnode`; containerd's images and snapshots in
`$NIMBUSGUARD_CACHE/realnode-containerd` (default ~/.cache/nimbusguard/...), so an image is
imported once, not at every bring-up. A failure names the component and its log file.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from hack.localcluster import kubeconfig, pki, ports, realnode_config as cfg, rest
from hack.localcluster.errors import ComponentError, LocalClusterError, MissingBinaryError
from hack.localcluster.process import Child, ProcessRecord, stop_all

if TYPE_CHECKING:
    from hack.localcluster.clusters import LocalClusters

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "realnode-binaries.sh"
BASE_IMAGE_SCRIPT = REPO_ROOT / "hack" / "base-image.sh"
CONTAINERD = "containerd"
KUBELET = "kubelet"
BINARIES = ("kubelet", "containerd", "containerd-shim-runc-v2", "ctr")
DIRECTORY = "realnode"
STATE_FILE = "state.json"
NAMESPACE = "k8s.io"
# Label on images imported from podman: which podman image id they were made from.
SOURCE_LABEL = "nimbusguard.io/podman-id"
PAUSE_DOCKERFILE = 'FROM {base}\nCMD ["sleep", "infinity"]\n'

Progress = Callable[[str], None]


def _cache_root() -> Path:
    configured = os.environ.get("NIMBUSGUARD_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nimbusguard"


def locate_binaries() -> Path:
    """The directory `make envtest` built the kubelet and containerd into (no building)."""
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--check"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingBinaryError(f"cannot run {BUILD_SCRIPT} --check: {error}") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise MissingBinaryError(reason[0])
    return Path(lines[-1])


def _check_host() -> None:
    needed = {
        "runc": cfg.RUNC,
        "the bridge CNI plugin": cfg.CNI_BIN_DIR / "bridge",
        "the host-local CNI plugin": cfg.CNI_BIN_DIR / "host-local",
        "the loopback CNI plugin": cfg.CNI_BIN_DIR / "loopback",
    }
    for what, path in needed.items():
        if not path.exists():
            raise MissingBinaryError(f"{what}: {path} not found (run `make container-tools`)")
    for tool in ("iptables", "ip", "podman"):
        if shutil.which(tool) is None:
            raise MissingBinaryError(f"{tool}: not found (run `make container-tools`)")


def _run(
    argv: Sequence[str],
    *,
    what: str,
    log: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = 120.0,
) -> str:
    """Run a command; on failure raise ComponentError naming `what` with its output."""
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise ComponentError(what, f"`{' '.join(argv)}` failed: {output[-800:]}", log)
    return done.stdout.decode(errors="replace")


@dataclass(frozen=True)
class HubAccess:
    """What the node needs of the hub: its API server, CA (to sign the node's certificate) and
    admin client; `apiserver_ports` of every cluster, for the pods' address rules."""

    name: str
    server: str
    pki_files: pki.PKIFiles
    apiserver_ports: dict[str, int]

    def admin(self) -> rest.Api:
        url = urlparse(self.server)
        return rest.Api(
            url.hostname or "127.0.0.1",
            url.port or 443,
            ca_file=self.pki_files.ca_cert,
            cert_file=self.pki_files.admin_cert,
            key_file=self.pki_files.admin_key,
        )


class RealNode:
    """The real node of one set of local clusters (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        hub: HubAccess,
        *,
        binaries: Path | None = None,
        timeout: float = 120.0,
        progress: Progress | None = None,
        detached: bool = False,
    ) -> None:
        self.root = root
        self.hub = hub
        self._binaries = binaries
        self._timeout = timeout
        self._progress = progress or (lambda _message: None)
        self._detached = detached
        self.layout: cfg.RealNodeLayout | None = None
        self.children: dict[str, Child] = {}

    @classmethod
    def for_clusters(cls, clusters: LocalClusters, **options: object) -> RealNode:
        """A real node for the first (hub) cluster of started `clusters`."""
        hub = clusters.names[0]
        info = clusters.cluster(hub)
        access = HubAccess(
            name=hub,
            server=info.server,
            pki_files=pki.PKIFiles(info.ca_file.parent),
            apiserver_ports={
                name: urlparse(clusters.cluster(name).server).port or 443 for name in clusters.names
            },
        )
        return cls(clusters.workdir / DIRECTORY, access, **options)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> float:
        """Start containerd and the kubelet and wait for the node to be Ready; the seconds
        it took. On failure everything is torn down and ComponentError names the part."""
        began = time.monotonic()
        _check_host()
        binaries = self._binaries or locate_binaries()
        for name in BINARIES:
            if not os.access(binaries / name, os.X_OK):
                raise MissingBinaryError(f"{name}: not found in {binaries} (run `make envtest`)")
        self._binaries = binaries
        if (self.root / STATE_FILE).exists():
            teardown(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        kubelet_port, healthz_port = ports.free_ports(2)
        self.layout = cfg.RealNodeLayout(
            root=self.root,
            containerd_root=_containerd_root(self.root),
            subnet_index=_free_subnet_index(self.root),
            kubelet_port=kubelet_port,
            kubelet_healthz_port=healthz_port,
        )
        try:
            self._bring_up(self.layout, binaries)
        except BaseException:
            teardown(self.root, keep_logs=True, own=self.children)
            raise
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop the node and remove its files (images stay in the cache). Idempotent."""
        teardown(self.root, own=self.children)

    def load_images(self, images: Sequence[str]) -> None:
        """Make podman's `images` available to the node's pods (imagePullPolicy Never or
        IfNotPresent); an image already imported from the same podman image id is skipped."""
        layout = self._started()
        for image in images:
            _load_image(layout, self._ctr(), image)

    def forward_host_port(self, port: int) -> str:
        """Let the node's pods reach a server that listens on this host's 127.0.0.1:`port` (a
        local Prometheus), at 10.0.0.1:`port` as they reach the API servers; that address.
        The server stays bound to loopback; the rule is in the node's own nat chain, so it
        goes when the node stops."""
        layout = self._started()
        rule = cfg.dnat_rule(port, port)
        _run(["iptables", "-w", "-t", "nat", "-A", layout.chain, *rule],
             what="pod network of the real node")  # fmt: skip
        return f"{cfg.SERVICE_IP}:{port}"

    def status(self) -> list[tuple[str, int | None, bool, Path]]:
        return [(n, c.pid, c.running(), c.log) for n, c in self.children.items()]

    # ------------------------------------------------------------------ internals

    def _started(self) -> cfg.RealNodeLayout:
        if self.layout is None:
            raise RuntimeError("the real node is not started")
        return self.layout

    def _ctr(self) -> list[str]:
        layout = self._started()
        binaries = self._binaries or locate_binaries()
        return [str(binaries / "ctr"), "--address", str(layout.socket), "-n", NAMESPACE]

    def _bring_up(self, layout: cfg.RealNodeLayout, binaries: Path) -> None:
        for directory in (
            layout.cni_conf_dir,
            layout.kubelet_dir,
            layout.pod_logs,
            layout.containerd_root,
            layout.state,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self._write_state(layout)
        self._progress("real node: pod network (bridge, address rules)")
        _network_up(layout, self.hub)
        self._write_state(layout)

        pause = _pause_image()
        layout.containerd_config.write_text(cfg.containerd_toml(layout, pause))
        (layout.cni_conf_dir / "10-nimbusguard.conflist").write_text(cfg.cni_conflist(layout))
        layout.kubelet_config.write_text(cfg.kubelet_config(layout, self.hub.pki_files.ca_cert))
        self._node_credentials(layout)

        self._progress("real node: containerd")
        containerd = self._launch(CONTAINERD, cfg.containerd_args(layout, binaries / "containerd"))
        ctr = self._ctr()
        self._await(
            CONTAINERD,
            lambda: (
                subprocess.run(
                    [*ctr, "version"], capture_output=True, check=False, timeout=10
                ).returncode
                == 0
            ),
            "ctr version answers",
        )
        if layout.containerd_root.parent != self.root:
            _claim(layout.containerd_root, containerd)
        _load_image(layout, ctr, pause, log=containerd.log)

        self._progress("real node: kubelet")
        self._launch(KUBELET, cfg.kubelet_args(layout, binaries / "kubelet"))
        healthz = f"http://127.0.0.1:{layout.kubelet_healthz_port}/healthz"
        self._await(
            KUBELET,
            lambda: rest.plain_ok("127.0.0.1", layout.kubelet_healthz_port, "/healthz"),
            f"GET {healthz}",
        )
        admin = self.hub.admin()

        def ready() -> bool:
            try:
                node = admin.get(f"/api/v1/nodes/{cfg.NODE_NAME}")
            except rest.ApiError:
                return False
            conditions = node.get("status", {}).get("conditions") or []
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

        self._await(KUBELET, ready, f"node {cfg.NODE_NAME} Ready")

    def _node_credentials(self, layout: cfg.RealNodeLayout) -> None:
        """A client certificate system:node:<name> in group system:nodes, and the binding
        that grants that group the node role (RBAC only here: no Node authorizer)."""
        files = self.hub.pki_files
        ca = pki.CertKey(files.ca_cert.read_bytes(), files.ca_key.read_bytes())
        node = pki.issue(
            ca, f"system:node:{cfg.NODE_NAME}", organizations=["system:nodes"], client=True
        )
        entry = kubeconfig.Entry(
            cfg.NODE_NAME, self.hub.server, ca.cert_pem, node.cert_pem, node.key_pem
        )
        kubeconfig.write(layout.kubelet_kubeconfig, kubeconfig.render([entry]))
        self.hub.admin().create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "nimbusguard-real-node"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:node",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "system:nodes",
                    }
                ],
            },
        )

    def _launch(self, component: str, argv: list[str]) -> Child:
        layout = self._started()
        child = Child(f"{component} of the real node", argv, layout.log(component), cwd=self.root)
        self.children[component] = child
        child.start(tie_to_parent=not self._detached)
        self._write_state(layout)
        return child

    def _died(self) -> ComponentError | None:
        for name, child in self.children.items():
            if not child.running():
                code = child.exit_code()
                how = f"exited with code {code}" if code is not None else "is not running"
                return ComponentError(f"{name} of the real node", how, child.log)
        return None

    def _await(self, component: str, condition: Callable[[], bool], what: str) -> None:
        if not rest.wait_for(condition, timeout=self._timeout, interval=0.3, abort=self._died):
            raise ComponentError(
                f"{component} of the real node",
                f"not healthy after {self._timeout:.0f}s (waited for: {what})",
                self._started().log(component),
            )

    def _write_state(self, layout: cfg.RealNodeLayout) -> None:
        state = {
            "bridge": layout.bridge,
            "chain": layout.chain,
            "runc_root": str(layout.runc_root),
            "socket": str(layout.socket),
            "processes": {n: c.record().as_dict() for n, c in self.children.items()},
        }
        path = self.root / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(path)


# ---------------------------------------------------------------------- containerd's root

_OWNER = "owner.json"


def _containerd_root(root: Path) -> Path:
    """The shared root in the cache (images imported once), unless another real node's
    containerd runs on it now: then a root of this node's own (images imported again)."""
    shared = _cache_root() / "realnode-containerd"
    try:
        owner = ProcessRecord.from_dict(json.loads((shared / _OWNER).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return shared
    if Child.adopt("containerd", owner, cwd=shared).running():
        return root / "containerd-root"
    return shared


def _claim(containerd_root: Path, containerd: Child) -> None:
    (containerd_root / _OWNER).write_text(json.dumps(containerd.record().as_dict()))


# ---------------------------------------------------------------------- network


def _free_subnet_index(root: Path) -> int:
    """A /24 index whose bridge does not exist yet; stable for a given root when free."""
    start = int(hashlib.sha256(str(root).encode()).hexdigest(), 16) % 200
    for offset in range(200):
        index = (start + offset) % 200 + 20
        if not Path(f"/sys/class/net/ngbr{index}").exists():
            return index
    raise LocalClusterError("no free pod subnet: 200 real-node bridges exist")


def _network_up(layout: cfg.RealNodeLayout, hub: HubAccess) -> None:
    """The pod bridge (made here, not by the CNI plugin, so its sysctl can be set before the
    first pod) and the nat chain that takes pods to the API servers on 127.0.0.1."""
    what = "pod network of the real node"
    bridge = layout.bridge
    _run(["ip", "link", "add", bridge, "type", "bridge"], what=what)
    _run(["ip", "addr", "add", f"{layout.gateway}/24", "dev", bridge], what=what)
    _run(["ip", "link", "set", bridge, "up"], what=what)
    # Without route_localnet the kernel drops packets DNATed to 127.0.0.1 from a bridge.
    Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").write_text("1\n")
    _run(["iptables", "-w", "-t", "nat", "-N", layout.chain], what=what)
    for rule in cfg.nat_rules(layout, hub.apiserver_ports, hub.name):
        _run(["iptables", "-w", "-t", "nat", "-A", layout.chain, *rule], what=what)
    _run(
        ["iptables", "-w", "-t", "nat", "-I", "PREROUTING", "-i", bridge, "-j", layout.chain],
        what=what,
    )


def _network_down(bridge: str, chain: str) -> None:
    for argv in (
        ["iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-i", bridge, "-j", chain],
        ["iptables", "-w", "-t", "nat", "-F", chain],
        ["iptables", "-w", "-t", "nat", "-X", chain],
        ["ip", "link", "del", bridge],
    ):
        subprocess.run(argv, capture_output=True, check=False, timeout=30)


# ---------------------------------------------------------------------- images


def podman_image_id(image: str) -> str | None:
    """podman's ID of `image` (its config digest, which containerd reports as the image ID)."""
    done = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _pause_image() -> str:
    """The sandbox ("pause") image, made from the local Python base (no registry here):
    `sleep infinity` holds the pod's namespaces just as well."""
    base = subprocess.run(
        ["bash", str(BASE_IMAGE_SCRIPT)], capture_output=True, text=True, check=False, timeout=900
    )
    if base.returncode != 0:
        raise ComponentError("base image for the pause image", base.stderr.strip()[-800:], None)
    base_image = base.stdout.strip().splitlines()[-1]
    pause = f"localhost/nimbusguard-pause:{base_image.rsplit(':', 1)[-1]}"
    if podman_image_id(pause) is None:
        _run(
            [
                "podman",
                "build",
                "--network",
                "none",
                "-t",
                pause,
                "-f",
                "-",
                str(REPO_ROOT / "hack"),
            ],
            what="pause image build",
            stdin=PAUSE_DOCKERFILE.format(base=base_image).encode(),
            timeout=300,
        )
    return pause


def _load_image(
    layout: cfg.RealNodeLayout, ctr: list[str], image: str, log: Path | None = None
) -> None:
    """podman save | ctr import, unless containerd has it from the same podman image id."""
    source = podman_image_id(image)
    if source is None:
        raise ComponentError(f"image {image}", "not in podman (build it first)", None)
    what = f"containerd of the real node (importing {image})"
    listed = _run([*ctr, "images", "ls", f"name=={image}"], what=what, log=log)
    if f"{SOURCE_LABEL}={source}" in listed:
        return
    archive = layout.root / "image.tar"
    try:
        _run(
            ["podman", "save", "--format", "docker-archive", "-o", str(archive), image],
            what=f"podman save {image}",
            timeout=600,
        )
        _run([*ctr, "images", "import", str(archive)], what=what, log=log, timeout=600)
    finally:
        archive.unlink(missing_ok=True)
    _run([*ctr, "images", "label", image, f"{SOURCE_LABEL}={source}"], what=what, log=log)


# ---------------------------------------------------------------------- teardown

_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[4].replace("\\040", " ") for line in lines]
    return sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True)


def teardown(
    root: Path, *, keep_logs: bool = False, own: Mapping[str, Child] | None = None
) -> None:
    """Stop what a real node in `root` left (from its state file): the kubelet, every
    container, containerd and its shims; then mounts, the bridge and the nat chain.
    `own`: the children this process started (stopped and reaped, not just signalled)."""
    try:
        state = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return
    children = {
        name: Child.adopt(name, ProcessRecord.from_dict(record), cwd=root)
        for name, record in state.get("processes", {}).items()
    }
    children.update(own or {})
    if KUBELET in children:
        stop_all([children[KUBELET]], grace=5.0)
    runc_root = state.get("runc_root")
    if runc_root and Path(runc_root).is_dir():
        listed = subprocess.run(
            [str(cfg.RUNC), "--root", runc_root, "list", "-q"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        for container in listed.stdout.split():
            subprocess.run(
                [str(cfg.RUNC), "--root", runc_root, "delete", "--force", container],
                capture_output=True,
                check=False,
                timeout=30,
            )
    if CONTAINERD in children:
        stop_all([children[CONTAINERD]], grace=5.0)
    socket = state.get("socket")
    if socket:
        _kill_shims(socket)
    for point in _mounts_under(root):
        _libc.umount2(point.encode(), _MNT_DETACH)
    _network_down(state["bridge"], state["chain"])
    (root / STATE_FILE).unlink(missing_ok=True)
    if keep_logs:
        for entry in root.iterdir():
            if entry.name != "logs":
                with contextlib.suppress(OSError):
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    else:
        shutil.rmtree(root, ignore_errors=True)


def recorded_status(root: Path) -> list[tuple[str, int | None, bool, Path]]:
    """(component, pid, running, log) of the real node recorded in `root`, if any."""
    try:
        state = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return []
    lines = []
    for name, record in state.get("processes", {}).items():
        child = Child.adopt(name, ProcessRecord.from_dict(record), cwd=root)
        lines.append((f"{name} (real node)", child.pid, child.running(), child.log))
    return lines


def _kill_shims(socket: str) -> None:
    """The runc shims of our containerd: they run on after it (they own the containers), and
    only ours name our socket on their command line."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and socket.encode() in argv:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), 9)

"""N independent local Kubernetes clusters, each a set of child processes on 127.0.0.1.

Each cluster runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(plus metrics-server when asked), with fake nodes that kwok keeps Ready and on which pods
reach Running. All clusters share one kubeconfig with a context per cluster.

Typical use (the e2e fixtures and `make demo`):

    with LocalClusters(("hub", "member"), metrics_server=True) as clusters:
        clusters.kubeconfig                  # one file, contexts "hub" and "member"
        clusters.cluster("member").server    # https://127.0.0.1:<port>
        clusters.stop_apiserver("member")    # member unreachable ...
        clusters.start_apiserver("member")   # ... and back, on the same port

Teardown stops every child's process group: on `stop()`/leaving the `with` block, at
interpreter exit, on SIGTERM (turned into KeyboardInterrupt while clusters run), when a start
fails half-way, and through PR_SET_PDEATHSIG if the owning process is killed outright.
`detached=True` (the CLI's `up`) leaves the clusters running after the process exits; a state
file in the work dir lets `LocalClusters.attach(workdir)` find them again for `status`/`down`.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from hack.localcluster import (
    args,
    audit as audit_mod,
    binaries as binaries_mod,
    kubeconfig,
    layout as lay,
    pki,
    ports,
    realnode,
    resources,
    rest,
)
from hack.localcluster.errors import ComponentError, LocalClusterError, PortInUseError
from hack.localcluster.process import Child, ProcessRecord, stop_all

DEFAULT_NAMES = ("hub", "member")
STATE_FILE = "state.json"
KUBECONFIG_FILE = "kubeconfig"
MARKER_FILE = ".nimbusguard-localcluster"
_STATE_VERSION = 1
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ClusterInfo:
    """How to reach one cluster as its administrator (group system:masters).

    `name` is also the context's name in `LocalClusters.kubeconfig`; `kubeconfig` here is a
    file with this cluster alone. `logs` maps each component to its log file.
    """

    name: str
    server: str
    ca_file: Path
    client_cert_file: Path
    client_key_file: Path
    kubeconfig: Path
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def context(self) -> str:
        return self.name


@dataclass(frozen=True)
class ComponentStatus:
    """One line of `status`: is this component's process alive?"""

    cluster: str
    component: str
    pid: int | None
    running: bool
    log: Path


class _Cluster:
    """One cluster's layout, processes and admin client."""

    def __init__(self, layout: lay.ClusterLayout) -> None:
        self.layout = layout
        self.children: dict[str, Child] = {}
        files = layout.pki
        self.admin = rest.Api(
            layout.host,
            layout.ports.apiserver,
            ca_file=files.ca_cert,
            cert_file=files.admin_cert,
            key_file=files.admin_key,
        )

    def info(self) -> ClusterInfo:
        files = self.layout.pki
        return ClusterInfo(
            name=self.layout.name,
            server=self.layout.server,
            ca_file=files.ca_cert,
            client_cert_file=files.admin_cert,
            client_key_file=files.admin_key,
            kubeconfig=self.layout.kubeconfig,
            logs={name: child.log for name, child in self.children.items()},
        )

    def entry(self, cluster_pki: pki.ClusterPKI) -> kubeconfig.Entry:
        return kubeconfig.Entry(
            name=self.layout.name,
            server=self.layout.server,
            ca_pem=cluster_pki.ca.cert_pem,
            client_cert_pem=cluster_pki.admin.cert_pem,
            client_key_pem=cluster_pki.admin.key_pem,
        )

    def died(self) -> ComponentError | None:
        """An error for the first component of this cluster that is no longer running."""
        for name, child in self.children.items():
            if not child.running():
                code = child.exit_code()
                how = f"exited with code {code}" if code is not None else "is not running"
                return ComponentError(self.layout.label(name), how, child.log)
        return None


class LocalClusters:
    """Start, inspect and stop N local clusters (see the module docstring).

    `names` become the contexts of the shared kubeconfig (lower-case letters, digits, '-').
    `workdir`: where certificates, kubeconfigs, etcd data and logs go; a fresh temporary
    directory when None. The work dir is removed on `stop()`; after a failed start only the
    logs are kept, so the error's log path can still be read.
    `binaries`: from `make envtest` when None. `nodes`: fake nodes per cluster.
    `metrics_server`: also run metrics-server and register metrics.k8s.io (pod CPU emulated by
    kwok from the pod annotation `kwok.x-k8s.io/usage-cpu`, e.g. "250m").
    `real_node`: also add one real node (kubelet + containerd) to the first cluster, tainted so
    only pods that tolerate it run there (hack/localcluster/realnode.py); `self.real_node`.
    `timeout`: seconds each readiness wait may take before the start fails.
    `progress`: called with one-line progress messages.
    `audit`: each API server writes an audit log of writes (hack/localcluster/audit.py),
    see `audit_log(name)`. `apiserver_args`: extra kube-apiserver flags (all clusters).

    Use one instance from one thread: the thread that starts the clusters must outlive them
    (children are tied to it by PR_SET_PDEATHSIG unless detached).
    """

    def __init__(
        self,
        names: Sequence[str] = DEFAULT_NAMES,
        *,
        workdir: Path | None = None,
        binaries: binaries_mod.Binaries | None = None,
        nodes: int = 2,
        metrics_server: bool = False,
        real_node: bool = False,
        detached: bool = False,
        timeout: float = 120.0,
        progress: Progress | None = None,
        audit: bool = False,
        apiserver_args: Sequence[str] = (),
    ) -> None:
        self._names = tuple(names)
        _check_names(self._names)
        if nodes < 1:
            raise ValueError("each cluster needs at least one node")
        self._workdir_arg = workdir
        self._workdir: Path | None = None
        self._binaries = binaries
        self._nodes = nodes
        self._metrics_server = metrics_server
        self._real_node = real_node
        self.real_node: realnode.RealNode | None = None
        self._detached = detached
        self._timeout = timeout
        self._progress = progress or (lambda _message: None)
        self._audit = audit
        self._apiserver_args = tuple(apiserver_args)
        self._clusters: dict[str, _Cluster] = {}
        self._started = False
        self._startup_seconds: float | None = None
        self._previous_sigterm: Any = None
        self._sigterm_installed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> float:
        """Start every cluster and wait until each is usable; returns the seconds it took.

        Usable: API server /readyz, controller manager, scheduler and kwok healthy, every
        fake node Ready, the `default` ServiceAccount created, and metrics.k8s.io Available
        when metrics-server was asked for. On any failure (also Ctrl-C) everything started so
        far is stopped before the error propagates: ComponentError, PortInUseError,
        MissingBinaryError (all LocalClusterError).
        """
        if self._started:
            raise RuntimeError("clusters already started")
        began = time.monotonic()
        binaries = self._binaries or binaries_mod.locate()
        needed = list(binaries_mod.CONTROL_PLANE)
        if self._metrics_server:
            needed.append(binaries_mod.METRICS_SERVER)
        binaries.check(needed)
        self._binaries = binaries
        self._workdir = _prepare_workdir(self._workdir_arg)
        self._started = True
        self._install_cleanup()
        try:
            self._bring_up(binaries)
            if self._real_node:
                self._progress("adding the real node")
                self.real_node = realnode.RealNode.for_clusters(
                    self, timeout=self._timeout, progress=self._progress, detached=self._detached
                )
                self.real_node.start()
        except BaseException:
            self._teardown(keep_logs=True)
            raise
        if self._detached:
            self._restore_sigterm()
        self._write_state()
        self._startup_seconds = time.monotonic() - began
        return self._startup_seconds

    def stop(self) -> None:
        """Stop every component of every cluster and remove the work dir. Idempotent."""
        if self._started:
            self._teardown(keep_logs=False)

    def __enter__(self) -> LocalClusters:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @classmethod
    def attach(cls, workdir: Path) -> LocalClusters:
        """The clusters a detached `start()` left running in `workdir`, from its state file.

        Raises LocalClusterError when `workdir` holds no state file.
        """
        state_path = workdir / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as error:
            raise LocalClusterError(f"no local clusters recorded in {workdir} ({error})") from error
        if state.get("version") != _STATE_VERSION:
            raise LocalClusterError(f"{state_path}: unknown state version {state.get('version')}")
        instance = cls(
            state["names"],
            workdir=workdir,
            binaries=binaries_mod.Binaries(Path(state["binaries"])),
            nodes=int(state["nodes"]),
            metrics_server=bool(state["metrics_server"]),
            detached=True,
        )
        instance._workdir = workdir
        instance._started = True
        instance._startup_seconds = state.get("startup_seconds")
        for name in instance._names:
            recorded = state["clusters"][name]
            layout = lay.ClusterLayout(name, workdir / name, lay.Ports(**recorded["ports"]))
            cluster = _Cluster(layout)
            for component, record in recorded["processes"].items():
                cluster.children[component] = Child.adopt(
                    layout.label(component), ProcessRecord.from_dict(record), cwd=workdir
                )
            instance._clusters[name] = cluster
        return instance

    def status(self) -> list[ComponentStatus]:
        """Every component of every cluster, alive or not."""
        lines = [
            ComponentStatus(name, component, child.pid, child.running(), child.log)
            for name, cluster in self._clusters.items()
            for component, child in cluster.children.items()
        ]
        if self._workdir is not None and self._names:
            lines += [
                ComponentStatus(self._names[0], component, pid, running, log)
                for component, pid, running, log in realnode.recorded_status(
                    self._workdir / realnode.DIRECTORY
                )
            ]
        return lines

    def apiserver_ready(self, name: str) -> bool:
        """Whether cluster `name`'s API server answers /readyz with 200 now."""
        return self._cluster(name).admin.ok("/readyz")

    # ------------------------------------------------------------------ fault injection

    def stop_apiserver(self, name: str, *, graceful: bool = False) -> None:
        """Make cluster `name` unreachable: stop its API server (SIGKILL unless `graceful`).

        Everything else keeps running; clients get connection refused on the same URL.
        """
        child = self._cluster(name).children[lay.APISERVER]
        stop_all([child], grace=5.0 if graceful else 0.0)
        self._write_state()

    def start_apiserver(self, name: str) -> None:
        """Bring cluster `name`'s API server back on the same port and wait for /readyz.

        Raises PortInUseError if something took the port meanwhile, ComponentError if it
        does not become ready within the timeout.
        """
        cluster = self._cluster(name)
        child = cluster.children[lay.APISERVER]
        if child.running():
            return
        self._check_ports(cluster, lay.APISERVER)
        child.start(tie_to_parent=not self._detached)
        self._await(cluster, lay.APISERVER, lambda: cluster.admin.ok("/readyz"), "GET /readyz")
        self._write_state()

    # ------------------------------------------------------------------ accessors

    def pid(self, name: str, component: str) -> int | None:
        """The pid of cluster `name`'s `component` (e.g. "kube-apiserver"), None if it was
        never started; it leads its own process group (for hack/localcluster/freeze.py)."""
        return self._cluster(name).children[component].pid

    def etcd_url(self, name: str) -> str:
        """The client URL of cluster `name`'s etcd (for hack/localcluster/compact.py)."""
        layout = self._cluster(name).layout
        return f"http://{layout.host}:{layout.ports.etcd_client}"

    def audit_log(self, name: str) -> Path:
        """Cluster `name`'s API server audit log (started with `audit=True`)."""
        if not self._audit:
            raise RuntimeError("clusters started without audit=True")
        return self._cluster(name).layout.root / "logs" / "audit.log"

    @property
    def names(self) -> tuple[str, ...]:
        """The clusters' names, which are also their kubeconfig contexts."""
        return self._names

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("clusters not started")
        return self._workdir

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig with one context per cluster (admin credentials embedded)."""
        return self.workdir / KUBECONFIG_FILE

    @property
    def binaries(self) -> binaries_mod.Binaries:
        if self._binaries is None:
            raise RuntimeError("clusters not started")
        return self._binaries

    @property
    def kubectl(self) -> Path:
        """kubectl built from the same Kubernetes version as the servers."""
        return self.binaries.kubectl

    @property
    def startup_seconds(self) -> float | None:
        return self._startup_seconds

    def cluster(self, name: str) -> ClusterInfo:
        """Admin access to cluster `name` (KeyError for an unknown name)."""
        return self._cluster(name).info()

    def log_files(self) -> dict[str, Path]:
        """Every component's log, keyed `cluster/component`."""
        return {
            f"{name}/{component}": child.log
            for name, cluster in self._clusters.items()
            for component, child in cluster.children.items()
        }

    # ------------------------------------------------------------------ internals

    def _cluster(self, name: str) -> _Cluster:
        try:
            return self._clusters[name]
        except KeyError:
            raise KeyError(f"no cluster {name!r}; clusters: {', '.join(self._names)}") from None

    def _bring_up(self, binaries: binaries_mod.Binaries) -> None:
        workdir = self.workdir
        allocated = ports.free_ports(lay.Ports.count() * len(self._names))
        width = lay.Ports.count()
        entries = []
        for index, name in enumerate(self._names):
            port_list = allocated[index * width : (index + 1) * width]
            layout = lay.ClusterLayout(name, workdir / name, lay.Ports.from_list(port_list))
            cluster = _Cluster(layout)
            cluster_pki = pki.make_cluster_pki(name)
            pki.write_pki(cluster_pki, layout.pki)
            kubeconfig.write(layout.kubeconfig, kubeconfig.render([cluster.entry(cluster_pki)]))
            entries.append(cluster.entry(cluster_pki))
            self._clusters[name] = cluster
        kubeconfig.write(self.kubeconfig, kubeconfig.render(entries))
        clusters = list(self._clusters.values())

        self._progress("starting etcd")
        for cluster in clusters:
            self._launch(cluster, lay.ETCD, args.etcd(cluster.layout, binaries))
        for cluster in clusters:
            layout = cluster.layout
            self._await(
                cluster,
                lay.ETCD,
                functools.partial(rest.plain_ok, layout.host, layout.ports.etcd_client, "/health"),
                "GET /health",
            )

        self._progress("starting kube-apiserver")
        for cluster in clusters:
            argv = [*args.apiserver(cluster.layout, binaries), *self._apiserver_args]
            if self._audit:
                policy_file = cluster.layout.root / "audit-policy.yaml"
                audit_mod.write_policy(policy_file)
                argv += audit_mod.apiserver_flags(policy_file, self.audit_log(cluster.layout.name))
            self._launch(cluster, lay.APISERVER, argv)
        for cluster in clusters:
            self._await(
                cluster,
                lay.APISERVER,
                functools.partial(cluster.admin.ok, "/readyz"),
                "GET /readyz",
            )

        self._progress("starting controller manager, scheduler, kwok and nodes")
        kwok_configs = binaries.kwok_configs(metrics=self._metrics_server)
        for cluster in clusters:
            layout = cluster.layout
            self._launch(cluster, lay.CONTROLLER_MANAGER, args.controller_manager(layout, binaries))
            self._launch(cluster, lay.SCHEDULER, args.scheduler(layout, binaries))
            self._launch(cluster, lay.KWOK, args.kwok(layout, binaries, kwok_configs))
            if self._metrics_server:
                self._launch(cluster, lay.METRICS_SERVER, args.metrics_server(layout, binaries))
                cluster.admin.create(
                    "/api/v1/namespaces/kube-system/services", resources.metrics_service()
                )
                cluster.admin.create(
                    "/apis/apiregistration.k8s.io/v1/apiservices",
                    resources.metrics_api_service(layout.ports.metrics_server),
                )
        for cluster in clusters:
            # kwok builds its metrics CEL environment after its controllers start and before it
            # serves /healthz; its CEL library caches types in unlocked global maps, so a node
            # stage initialised at the same time can crash it ("concurrent map writes", exit 2,
            # seen once in CI). Nodes created after /healthz are initialised after that build.
            kwok_probe = rest.Api(
                cluster.layout.host, cluster.layout.ports.kwok, ca_file=cluster.layout.pki.ca_cert
            )
            self._await(
                cluster, lay.KWOK, functools.partial(kwok_probe.ok, "/healthz"), "GET /healthz"
            )
            for index in range(self._nodes):
                cluster.admin.create("/api/v1/nodes", resources.fake_node(index))
        for cluster in clusters:
            self._await_usable(cluster)

    def _await_usable(self, cluster: _Cluster) -> None:
        layout = cluster.layout
        for component, port in (
            (lay.CONTROLLER_MANAGER, layout.ports.controller_manager),
            (lay.SCHEDULER, layout.ports.scheduler),
        ):
            probe = rest.Api(layout.host, port, ca_file=None)
            self._await(cluster, component, functools.partial(probe.ok, "/healthz"), "GET /healthz")
        expected = {resources.node_name(index) for index in range(self._nodes)}

        def nodes_ready() -> bool:
            try:
                items = cluster.admin.get("/api/v1/nodes")["items"]
            except rest.ApiError:
                return False
            ready = {n["metadata"]["name"] for n in items if resources.node_is_ready(n)}
            return expected <= ready

        self._await(cluster, lay.KWOK, nodes_ready, f"{len(expected)} fake nodes Ready")
        self._await(
            cluster,
            lay.CONTROLLER_MANAGER,
            lambda: cluster.admin.ok("/api/v1/namespaces/default/serviceaccounts/default"),
            "ServiceAccount default/default",
        )
        if self._metrics_server:
            path = f"/apis/apiregistration.k8s.io/v1/apiservices/{resources.METRICS_API_SERVICE}"

            def metrics_available() -> bool:
                try:
                    return resources.api_service_available(cluster.admin.get(path))
                except rest.ApiError:
                    return False

            self._await(
                cluster,
                lay.METRICS_SERVER,
                metrics_available,
                "APIService metrics.k8s.io Available",
            )

    def _check_ports(self, cluster: _Cluster, component: str) -> None:
        layout = cluster.layout
        for port in layout.ports.of(component):
            if not ports.port_is_free(port, layout.host):
                raise PortInUseError(layout.label(component), port, layout.log(component))

    def _launch(self, cluster: _Cluster, component: str, argv: list[str]) -> None:
        self._check_ports(cluster, component)
        layout = cluster.layout
        child = Child(layout.label(component), argv, layout.log(component), cwd=layout.root)
        cluster.children[component] = child
        child.start(tie_to_parent=not self._detached)

    def _await(
        self, cluster: _Cluster, component: str, condition: Callable[[], bool], what: str
    ) -> None:
        if not rest.wait_for(condition, timeout=self._timeout, abort=cluster.died):
            child = cluster.children.get(component)
            raise ComponentError(
                cluster.layout.label(component),
                f"not healthy after {self._timeout:.0f}s (waited for: {what})",
                child.log if child else cluster.layout.log(component),
            )

    def _teardown(self, *, keep_logs: bool) -> None:
        if self._workdir is not None:  # its pods and kubelet first, while the API server runs
            own = self.real_node.children if self.real_node else None
            realnode.teardown(self._workdir / realnode.DIRECTORY, keep_logs=keep_logs, own=own)
        # etcd last: an API server whose etcd is gone hangs in its graceful shutdown.
        for wave in ([n for n in lay.COMPONENTS if n != lay.ETCD], [lay.ETCD]):
            stop_all(
                [c.children[n] for c in self._clusters.values() for n in wave if n in c.children],
                grace=5.0,
            )
        self._started = False
        self._restore_sigterm()
        atexit.unregister(self.stop)
        workdir = self._workdir
        if workdir is None:
            return
        (workdir / STATE_FILE).unlink(missing_ok=True)
        if keep_logs:
            # Keep what explains the failure; drop the bulky parts (etcd preallocates 64 MB).
            for cluster in self._clusters.values():
                shutil.rmtree(cluster.layout.etcd_data, ignore_errors=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def _install_cleanup(self) -> None:
        if not self._detached:
            atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
            self._sigterm_installed = True

    def _restore_sigterm(self) -> None:
        if self._sigterm_installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._sigterm_installed = False

    def _write_state(self) -> None:
        state = {
            "version": _STATE_VERSION,
            "names": list(self._names),
            "binaries": str(self.binaries.directory),
            "nodes": self._nodes,
            "metrics_server": self._metrics_server,
            "startup_seconds": self._startup_seconds,
            "clusters": {
                name: {
                    "ports": cluster.layout.ports.as_dict(),
                    "processes": {
                        component: child.record().as_dict()
                        for component, child in cluster.children.items()
                    },
                }
                for name, cluster in self._clusters.items()
            },
        }
        path = self.workdir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(path)


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so `with` blocks and pytest's teardown stop the clusters."""
    del signum, frame
    raise KeyboardInterrupt


def _check_names(names: Sequence[str]) -> None:
    if not names:
        raise ValueError("at least one cluster name is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"cluster names must be unique: {list(names)}")
    for name in names:
        if not name or not set(name) <= _NAME_CHARS or name[0] == "-" or len(name) > 40:
            raise ValueError(
                f"bad cluster name {name!r}: use lower-case letters, digits and '-' (≤ 40)"
            )


def _prepare_workdir(requested: Path | None) -> Path:
    """A fresh work dir: a new temporary one, or `requested` (created; it must be empty or an
    earlier work dir of ours whose clusters no longer run, which is cleared)."""
    if requested is None:
        workdir = Path(tempfile.mkdtemp(prefix="nimbusguard-clusters-"))
    else:
        workdir = requested.resolve()
        if workdir.exists() and any(workdir.iterdir()):
            if not (workdir / MARKER_FILE).exists():
                raise LocalClusterError(
                    f"work dir {workdir} is not empty and was not made by localcluster"
                )
            if (workdir / STATE_FILE).exists() and any(
                status.running for status in LocalClusters.attach(workdir).status()
            ):
                raise LocalClusterError(
                    f"clusters are already running in {workdir} (stop them with `down` first)"
                )
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER_FILE).touch()
    return workdir

"""Fixtures for end-to-end tests against real API servers: a `hub` and a `member` cluster.

Backend, first that applies (or forced with NIMBUSGUARD_E2E_BACKEND=kubeconfig|kind|local):
1. kubeconfig: NIMBUSGUARD_E2E_KUBECONFIG names a kubeconfig; the contexts are
   NIMBUSGUARD_E2E_HUB_CONTEXT / NIMBUSGUARD_E2E_MEMBER_CONTEXT (default `hub`, `member`).
2. kind: a Docker engine answers (`docker info`): two pytest-kind clusters,
   `nimbusguard-hub` and `nimbusguard-member`, merged into one kubeconfig with contexts
   `hub` and `member` (pytest-kind's --kind-image, --kind-bin, --kind-kubectl-bin and
   --keep-cluster apply).
3. local: the control planes built by `make envtest` (hack/localcluster), with
   metrics-server and an audit log of writes, started once per session (per pytest-xdist
   worker) and always stopped.

Every test here is marked `e2e`. Per-test namespaces (`hub_namespace`, `member_namespace`) are
deleted afterwards. When a test fails, its report gets an "e2e diagnostics" section with the
pods and events of its namespaces and the tail of every log registered with `e2e_logs`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from hack.localcluster import LocalClusterError, LocalClusters, binaries as binaries_mod
from hack.localcluster.errors import tail
from tests.e2e import support
from tests.e2e.support import E2EClusters

# ---------------------------------------------------------------- marking and diagnostics


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e with `e2e`."""
    del config
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class Diagnostics:
    """What to show when the test fails: namespaces per context, and log files."""

    namespaces: list[tuple[str, Any, str]] = field(default_factory=list)
    logs: list[tuple[str, Path]] = field(default_factory=list)

    def render(self) -> str:
        parts = [_describe_namespace(context, api, ns) for context, api, ns in self.namespaces]
        for label, path in self.logs:
            parts.append(f"--- log {label} ({path}), last lines:\n{tail(path, 60)}")
        return "\n\n".join(parts)


_DIAGNOSTICS = pytest.StashKey[Diagnostics]()


def _diagnostics(request: pytest.FixtureRequest) -> Diagnostics:
    stash: pytest.Stash = request.node.stash
    if _DIAGNOSTICS not in stash:
        stash[_DIAGNOSTICS] = Diagnostics()
    return stash[_DIAGNOSTICS]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when in ("setup", "call") and _DIAGNOSTICS in item.stash:
        try:
            text = item.stash[_DIAGNOSTICS].render()
        except Exception as error:  # diagnostics must never hide the real failure
            text = f"(could not collect diagnostics: {error!r})"
        if text:
            report.sections.append(("e2e diagnostics", text))
    return report


def _describe_namespace(context: str, api: Any, namespace: str) -> str:
    core = support.core_v1(api)
    lines = [f"--- namespace {namespace} in context {context}"]
    try:
        for pod in core.list_namespaced_pod(namespace).items:
            lines.append(
                f"pod {pod.metadata.name}: {pod.status.phase} on {pod.spec.node_name or '-'}"
            )
        events = core.list_namespaced_event(namespace).items
    except kubernetes.client.ApiException as error:
        return "\n".join([*lines, f"(cannot list: {error.status} {error.reason})"])
    events.sort(key=lambda e: str(e.last_timestamp or e.event_time or ""))
    for event in events:
        obj = event.involved_object
        when = event.last_timestamp or event.event_time or ""
        lines.append(
            f"event {when} {event.type} {event.reason} {obj.kind}/{obj.name}: {event.message}"
        )
    if len(lines) == 1:
        lines.append("(no pods, no events)")
    return "\n".join(lines)


# ---------------------------------------------------------------- backends


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _built_kubectl() -> Path | None:
    try:
        return binaries_mod.locate().kubectl
    except LocalClusterError:
        return None


def _kubeconfig_backend() -> E2EClusters:
    path = os.environ.get(support.ENV_KUBECONFIG)
    if not path or not Path(path).is_file():
        pytest.fail(f"{support.ENV_KUBECONFIG}={path!r} is not a file", pytrace=False)
    kubectl = _built_kubectl() or shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("no kubectl: run `make envtest` or put kubectl on PATH", pytrace=False)
    return E2EClusters(
        backend="kubeconfig",
        kubeconfig=Path(path),
        hub_context=os.environ.get(support.ENV_HUB_CONTEXT, "hub"),
        member_context=os.environ.get(support.ENV_MEMBER_CONTEXT, "member"),
        kubectl_path=Path(kubectl),
    )


def _kind_backend(request: pytest.FixtureRequest, workdir: Path) -> Iterator[E2EClusters]:
    from pytest_kind import KindCluster  # only with a Docker engine

    option = request.config.getoption
    kind_bin = option("kind_bin", None) or shutil.which("kind")
    kubectl_bin = option("kind_kubectl_bin", None) or _built_kubectl() or shutil.which("kubectl")
    clusters = {
        context: KindCluster(
            f"nimbusguard-{context}",
            image=option("kind_image", None),
            kind_path=Path(kind_bin) if kind_bin else None,
            kubectl_path=Path(kubectl_bin) if kubectl_bin else None,
        )
        for context in ("hub", "member")
    }
    try:
        for cluster in clusters.values():
            cluster.create()
        kubeconfig = workdir / "kubeconfig"
        support.merge_kubeconfigs({c: k.kubeconfig_path for c, k in clusters.items()}, kubeconfig)
        hub = clusters["hub"]
        hub.ensure_kubectl()
        yield E2EClusters("kind", kubeconfig, "hub", "member", Path(hub.kubectl_path))
    finally:
        if not option("keep_cluster", False):
            for cluster in clusters.values():
                cluster.delete()


def _local_backend() -> Iterator[E2EClusters]:
    # The audit log lets the chaos tests check invariants from the hub's own record.
    local = LocalClusters(("hub", "member"), metrics_server=True, audit=True)
    failure = None
    try:
        local.start()
    except LocalClusterError as error:
        failure = f"local clusters: {error}\n{getattr(error, 'log_tail', '')}"
    if failure:
        pytest.fail(failure.strip(), pytrace=False)
    try:
        yield E2EClusters("local", local.kubeconfig, "hub", "member", local.kubectl, local)
    finally:
        local.stop()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def e2e_backend() -> str:
    """The backend of this session (kubeconfig, kind or local), without starting anything."""
    return support.choose_backend(dict(os.environ), _docker_answers)


@pytest.fixture(scope="session")
def e2e_clusters(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, e2e_backend: str
) -> Iterator[E2EClusters]:
    """The hub and member clusters of this session (see the module docstring)."""
    backend = e2e_backend
    if backend == "kubeconfig":
        yield _kubeconfig_backend()
    elif backend == "kind":
        yield from _kind_backend(request, tmp_path_factory.mktemp("kind"))
    else:
        yield from _local_backend()


@pytest.fixture(scope="session")
def hub_api(e2e_clusters: E2EClusters) -> Iterator[Any]:
    """A sync kubernetes ApiClient for the hub context."""
    client = e2e_clusters.api_client(e2e_clusters.hub_context)
    yield client
    client.close()


@pytest.fixture(scope="session")
def member_api(e2e_clusters: E2EClusters) -> Iterator[Any]:
    """A sync kubernetes ApiClient for the member context."""
    client = e2e_clusters.api_client(e2e_clusters.member_context)
    yield client
    client.close()


def _make_namespace(
    request: pytest.FixtureRequest, context: str, api: Any, name: str | None = None
) -> Iterator[str]:
    core = support.core_v1(api)
    name = name or support.namespace_name(request.node.name)
    _diagnostics(request).namespaces.append((context, api, name))
    support.create_namespace(api, name)
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def hub_namespace(
    request: pytest.FixtureRequest, e2e_clusters: E2EClusters, hub_api: Any
) -> Iterator[str]:
    """A new namespace in the hub for this test, deleted afterwards."""
    yield from _make_namespace(request, e2e_clusters.hub_context, hub_api)


@pytest.fixture
def member_namespace(
    request: pytest.FixtureRequest, e2e_clusters: E2EClusters, member_api: Any, hub_namespace: str
) -> Iterator[str]:
    """A new namespace in the member cluster for this test, deleted afterwards. It has the
    name of the test's hub namespace (namespace sameness: what a policy there may target
    without a tenancy grant, see nimbusguard/tenancy.py)."""
    yield from _make_namespace(request, e2e_clusters.member_context, member_api, hub_namespace)


class LogRegistry:
    """Log files to show (their last lines) if the test fails, e.g. the operator's log."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self._diagnostics = diagnostics

    def register(self, path: Path, label: str | None = None) -> None:
        self._diagnostics.logs.append((label or path.name, path))


@pytest.fixture
def e2e_logs(request: pytest.FixtureRequest) -> LogRegistry:
    """Register log files to dump when this test fails: `e2e_logs.register(path, "operator")`."""
    return LogRegistry(_diagnostics(request))


@pytest.fixture(scope="session")
def scalingpolicy_crd(e2e_clusters: E2EClusters, hub_api: Any) -> str:
    """The generated ScalingPolicy CRD, applied to the hub and Established; its name."""
    return support.install_crd(e2e_clusters, hub_api)

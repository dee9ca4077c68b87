"""Fixtures of the chaos scenarios (issue 11): `chaos` on the session's shared clusters,
`private_chaos` on clusters of the test's own for scenarios that freeze, stop or compact a
component (so no other test sees the fault).

Both need the local control planes (audit log, processes to signal); on the kind or
kubeconfig backends the scenarios are skipped, on the local backend never.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hack.localcluster import LocalClusterError, LocalClusters
from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.chaos.fakeprom import FakePrometheus


@pytest.fixture(scope="session")
def fake_prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


def _local(clusters: support.E2EClusters) -> LocalClusters:
    if clusters.local is None:
        pytest.skip("chaos scenarios signal and audit the local control planes")
    return clusters.local


@pytest.fixture
def chaos(
    e2e_clusters: support.E2EClusters,
    hub_api: Any,
    member_api: Any,
    hub_namespace: str,
    scalingpolicy_crd: str,
    fake_prometheus: FakePrometheus,
    e2e_logs: Any,
    tmp_path: Path,
) -> Iterator[Chaos]:
    """A scenario on the session's clusters, in the test's hub namespace."""
    local = _local(e2e_clusters)
    env = Chaos(
        e2e_clusters, local, hub_api, member_api, hub_namespace, fake_prometheus, tmp_path, e2e_logs
    )
    yield env
    env.close()


@pytest.fixture
def private_chaos(
    request: pytest.FixtureRequest,
    e2e_backend: str,
    fake_prometheus: FakePrometheus,
    e2e_logs: Any,
    tmp_path: Path,
) -> Iterator[Chaos]:
    """A scenario on a hub and a member cluster of its own (started for it, with an audit
    log, then stopped), so freezing or compacting them disturbs no other test."""
    if e2e_backend != "local":  # the same requirement as the shared scenarios
        pytest.skip("chaos scenarios signal and audit the local control planes")
    local = LocalClusters(("hub", "member"), nodes=1, audit=True)
    try:
        local.start()
    except LocalClusterError as error:
        pytest.fail(f"private clusters: {error}\n{getattr(error, 'log_tail', '')}", pytrace=False)
    clusters = support.E2EClusters("local", local.kubeconfig, "hub", "member", local.kubectl, local)
    for name, path in local.log_files().items():
        if name.endswith("kube-apiserver"):
            e2e_logs.register(path, f"private {name}")
    hub_api = clusters.api_client("hub")
    member_api = clusters.api_client("member")
    env: Chaos | None = None
    try:
        support.install_crd(clusters, hub_api)
        ns = support.create_namespace(hub_api, support.namespace_name(request.node.name))
        env = Chaos(clusters, local, hub_api, member_api, ns, fake_prometheus, tmp_path, e2e_logs)
        yield env
    finally:
        if env is not None:
            env.close()
        hub_api.close()
        member_api.close()
        local.stop()

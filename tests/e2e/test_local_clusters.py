"""The launcher's fault injection, which the controller's e2e tests rely on: one member API
server goes away and comes back on the same URL, with its data, while the hub is unaffected."""

from __future__ import annotations

import socket
from typing import Any

import kubernetes
import pytest

from hack.localcluster import LocalClusters, PortInUseError
from tests.e2e import support
from tests.e2e.support import E2EClusters


@pytest.fixture
def local(e2e_clusters: E2EClusters) -> LocalClusters:
    if e2e_clusters.local is None:
        pytest.skip(f"needs the local backend (this session uses {e2e_clusters.backend})")
    return e2e_clusters.local


def reachable(api: Any) -> bool:
    try:
        support.version(api).get_code(_request_timeout=3)
    except kubernetes.client.ApiException:
        return True  # an HTTP answer, even an error, means the server is there
    except Exception:  # urllib3 wraps "connection refused" in several types
        return False
    return True


def test_member_apiserver_stops_and_comes_back(
    local: LocalClusters, hub_api: Any, member_api: Any, member_namespace: str
) -> None:
    version = support.version(member_api).get_code()
    assert version.git_version == "v1.37.2"

    local.stop_apiserver("member")
    try:
        assert not reachable(member_api)
        assert reachable(hub_api)
        assert not local.apiserver_ready("member")
    finally:
        local.start_apiserver("member")

    assert local.apiserver_ready("member")
    namespace = support.core_v1(member_api).read_namespace(member_namespace)
    assert namespace.metadata.name == member_namespace


def test_restart_on_a_taken_port_names_the_component_and_its_log(local: LocalClusters) -> None:
    info = local.cluster("member")
    port = int(info.server.rsplit(":", 1)[1])
    local.stop_apiserver("member")
    squatter = socket.socket()
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUseError) as taken:
            local.start_apiserver("member")
    finally:
        squatter.close()
        local.start_apiserver("member")

    message = str(taken.value)
    assert "kube-apiserver of cluster member" in message
    assert str(info.logs["kube-apiserver"]) in message
    assert local.apiserver_ready("member")

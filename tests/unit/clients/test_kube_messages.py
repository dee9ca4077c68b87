"""What tenants read about clusters: their own context's name, never addresses or others'."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import yaml

from nimbusguard.clients import errors, kube


def _kubeconfig(path: Path, *contexts: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": c, "cluster": {"server": f"https://{c}.internal.example:6443"}}
                    for c in contexts
                ],
                "users": [{"name": c, "user": {"token": "t0ken"}} for c in contexts],
                "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts],
            }
        )
    )
    return path


async def test_an_unknown_context_does_not_list_the_others(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path / "kubeconfig", "prod-eu", "team-b-secret-cluster")
    registry = kube.ClusterClients(hub=None, member_kubeconfig=path)  # type: ignore[arg-type]
    with pytest.raises(errors.ClusterConfigError) as info:
        await registry.get("prod-us")
    message = str(info.value)
    assert info.value.reason == "UnknownCluster"
    assert "'prod-us'" in message and message.startswith("spec.target.cluster: ")
    for leak in ("prod-eu", "team-b", str(tmp_path)):
        assert leak not in message
    await registry.close()


async def test_an_unreachable_cluster_is_named_but_its_address_is_not() -> None:
    async def refused() -> None:
        raise aiohttp.ClientConnectorError(
            aiohttp.client_reqrep.ConnectionKey("10.1.2.3", 6443, True, True, None, None, None),
            OSError(111, "Connection refused"),
        )

    with pytest.raises(errors.ClusterUnreachableError) as info:
        await kube.call(refused, cluster="prod-eu")
    assert str(info.value) == "cluster 'prod-eu' did not answer (ClientConnectorError)"

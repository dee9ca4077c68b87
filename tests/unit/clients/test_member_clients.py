"""Member-cluster clients: one slow context never blocks another, and a kubeconfig change
never closes a client an evaluation is using."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes.aio import client as k8s, config as k8s_config

from controllers import phases
from nimbusguard.clients import errors, kube
from tests.unit.clients.test_kube_messages import _kubeconfig
from tests.unit.controllers.helpers import facts


class FakeApi:
    def __init__(self, context: str) -> None:
        self.context = context
        self.closed = False
        self.configuration = k8s.Configuration()

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def hanging(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Creating the client of context "stuck" hangs (an exec plugin that never answers)."""
    release = asyncio.Event()

    async def new_client(*, config_file: str, context: str, **_: Any) -> FakeApi:
        if context == "stuck":
            await release.wait()
        return FakeApi(context)

    monkeypatch.setattr(k8s_config, "new_client_from_config", new_client)
    return release


async def test_a_hanging_context_blocks_neither_others_nor_itself_forever(
    tmp_path: Path, hanging: asyncio.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _kubeconfig(tmp_path / "kubeconfig", "stuck", "fine")
    registry = kube.ClusterClients(hub=None, member_kubeconfig=path)  # type: ignore[arg-type]
    monkeypatch.setattr(registry, "CREATE_TIMEOUT", 0.5)
    stuck = asyncio.create_task(registry.get("stuck"))
    await asyncio.sleep(0)
    fine: Any = await asyncio.wait_for(registry.get("fine"), timeout=2)
    assert fine.context == "fine"
    with pytest.raises(errors.ClusterUnreachableError, match="creating its client"):
        await stuck
    hanging.set()
    await registry.close()


async def test_a_kubeconfig_change_does_not_close_a_client_in_use(
    tmp_path: Path, hanging: asyncio.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _kubeconfig(tmp_path / "kubeconfig", "member")
    registry = kube.ClusterClients(hub=None, member_kubeconfig=path)  # type: ignore[arg-type]
    first: Any = await registry.get("member")
    _kubeconfig(path, "member")
    os.utime(path, (1, 1))  # a new mtime, as a Secret update gives
    second: Any = await registry.get("member")
    assert second is not first
    await asyncio.sleep(0.05)
    assert not first.closed  # an evaluation that fetched it before may still be calling
    await registry.close()
    assert first.closed and second.closed


async def test_a_refused_token_drops_the_client(tmp_path: Path, hanging: asyncio.Event) -> None:
    path = _kubeconfig(tmp_path / "kubeconfig", "member")
    registry = kube.ClusterClients(hub=None, member_kubeconfig=path)  # type: ignore[arg-type]
    first = await registry.get("member")
    registry.invalidate("member")
    assert await registry.get("member") is not first
    await registry.close()


def test_401_is_unauthorized_not_a_grant_to_add() -> None:
    verdict = phases.assess(
        facts(target_error=errors.ApiError(401, "HTTP 401: Unauthorized", cluster="member"))
    )
    assert verdict.ready_reason == "Unauthorized"
    assert "grant" not in verdict.ready_message
    assert "expired" in verdict.ready_message

"""Before every evaluation: is the target's namespace and the metric endpoint permitted?"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from controllers import permits
from nimbusguard.clients import configmaps, endpoints, errors


def _policy(namespace: str, target: dict[str, Any], prom: dict[str, Any] | None = None) -> Any:
    metrics = (
        {"prometheus": {"query": "up", "targetValue": 1, **prom}}
        if prom
        else {"cpu": {"targetUtilization": 50}}
    )
    return types.ScalingPolicy.model_validate(
        {
            "metadata": {"name": "p", "namespace": namespace, "uid": "u"},
            "spec": {"target": target, "scaling": {"maxReplicas": 3}, "metrics": metrics},
        }
    )


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"data": {"team-a": "prod-eu/legacy"}, "reads": 0, "fail": None}

    async def read_data(api: Any, namespace: str, name: str) -> dict[str, str] | None:
        assert (namespace, name) == ("nimbusguard-system", "nimbusguard-tenancy")
        state["reads"] += 1
        if state["fail"] is not None:
            raise state["fail"]
        result: dict[str, str] | None = state["data"]
        return result

    monkeypatch.setattr(configmaps, "read_data", read_data)
    return state


def _permits(clock: Clock) -> permits.Permits:
    registry = endpoints.Registry(
        config_file=None, credentials_dir=None, allowed_addresses=["http://127.0.0.1:*"]
    )
    return permits.Permits(
        hub=None, operator_namespace="nimbusguard-system", registry=registry, clock=clock
    )


async def test_tenancy_and_endpoints_are_checked(grants: dict[str, Any]) -> None:
    p = _permits(Clock())
    member = {"name": "web", "cluster": "prod-eu"}
    ok = await p.check(_policy("team-a", {**member, "namespace": "legacy"}))
    assert ok.refusal is None and ok.endpoint is None
    refused = await p.check(_policy("dev", {**member, "namespace": "kube-system"}))
    assert refused.refusal is not None and refused.refusal.reason == "TargetNotPermitted"
    local = await p.check(_policy("dev", member, {"serverAddress": "http://127.0.0.1:9090"}))
    assert local.endpoint is not None and local.refusal is None
    far = await p.check(_policy("dev", member, {"serverAddress": "http://10.1.2.3:9090"}))
    assert far.refusal is not None and far.refusal.reason == "EndpointNotPermitted"
    named = await p.check(_policy("dev", member, {"endpoint": "nope"}))
    assert named.refusal is not None and "endpoint: 'nope'" in named.refusal.message
    await p.registry.close()


async def test_grants_are_cached_briefly_and_a_failure_keeps_the_last(
    grants: dict[str, Any],
) -> None:
    clock = Clock()
    p = _permits(clock)
    policy = _policy("team-a", {"name": "web", "cluster": "prod-eu", "namespace": "legacy"})
    assert (await p.check(policy)).refusal is None
    assert (await p.check(policy)).refusal is None
    assert grants["reads"] == 1
    clock.now = 60.0
    grants["fail"] = errors.ClusterUnreachableError("hub down")
    assert (await p.check(policy)).refusal is None
    grants["fail"] = None
    grants["data"] = None  # the ConfigMap was deleted: sameness only
    clock.now = 120.0
    assert (await p.check(policy)).refusal is not None
    await p.registry.close()


async def test_unreadable_grants_at_start_fail_closed(grants: dict[str, Any]) -> None:
    grants["fail"] = errors.ClusterUnreachableError("hub down")
    p = _permits(Clock())
    policy = _policy("team-a", {"name": "web", "cluster": "prod-eu", "namespace": "legacy"})
    assert (await p.check(policy)).refusal is not None
    assert (await p.check(_policy("team-a", {"name": "web"}))).refusal is None
    await p.registry.close()


async def test_a_burst_of_evaluations_reads_the_grants_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hundreds of evaluations find the cache stale at once: one read, all wait for it."""
    reads: list[int] = []
    answer = asyncio.Event()

    async def read_data(api: Any, namespace: str, name: str) -> dict[str, str] | None:
        reads.append(1)
        await answer.wait()  # the hub is slow to answer
        return {"team-a": "prod-eu/legacy"}

    monkeypatch.setattr(configmaps, "read_data", read_data)
    clock = Clock()
    p = _permits(clock)
    policy = _policy("team-a", {"name": "web", "cluster": "prod-eu", "namespace": "legacy"})
    burst = [asyncio.create_task(p.check(policy)) for _ in range(200)]
    await asyncio.sleep(0)
    answer.set()
    permits_ = await asyncio.gather(*burst)

    assert len(reads) == 1
    assert all(permit.refusal is None for permit in permits_)
    clock.now = permits.GRANTS_CACHE_SECONDS + 1  # stale again: one more read
    await p.check(policy)
    assert len(reads) == 2
    await p.registry.close()

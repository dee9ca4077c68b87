"""Which HorizontalPodAutoscalers of a namespace compete with a policy's target."""

from __future__ import annotations

from typing import Any, cast

import pytest

from nimbusguard.clients import errors, kube, workloads

NAMESPACE = [
    workloads.HpaTarget(hpa="web-hpa", kind="Deployment", name="web", group="apps"),
    workloads.HpaTarget(hpa="web-old", kind="Deployment", name="web", group=""),
    workloads.HpaTarget(hpa="db-hpa", kind="StatefulSet", name="web", group="apps"),
    workloads.HpaTarget(hpa="custom", kind="Deployment", name="web", group="example.com"),
    workloads.HpaTarget(hpa="api-hpa", kind="Deployment", name="api", group="apps"),
]


def test_only_the_hpas_on_this_target_compete() -> None:
    web = workloads.TargetRef("Deployment", "web", "shop")
    assert workloads.competing_hpas(NAMESPACE, web) == ["web-hpa", "web-old"]


def test_one_namespace_list_serves_every_target() -> None:
    api = workloads.TargetRef("Deployment", "api", "shop")
    other = workloads.TargetRef("Deployment", "cart", "shop")
    sts = workloads.TargetRef("StatefulSet", "web", "shop")
    assert workloads.competing_hpas(NAMESPACE, api) == ["api-hpa"]
    assert workloads.competing_hpas(NAMESPACE, other) == []
    assert workloads.competing_hpas(NAMESPACE, sts) == ["db-hpa"]


async def test_a_target_read_gives_up_sooner_than_other_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hung member API server must show as unreachable within an interval + 10 s: the read
    # that notices it cannot take the general 10 s bound plus the status write after it.
    seen: dict[str, Any] = {}

    async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise errors.ClusterUnreachableError("no answer")

    monkeypatch.setattr(kube, "call_json", call)
    ref = workloads.TargetRef("Deployment", "web", "shop", cluster="edge")
    with pytest.raises(errors.ClusterUnreachableError):
        await workloads.read(cast(Any, None), ref)
    assert seen["timeout"] == kube.READ_TIMEOUT < kube.DEFAULT_TIMEOUT
    assert kube.READ_TIMEOUT <= 5

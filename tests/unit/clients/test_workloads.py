"""Which HorizontalPodAutoscalers of a namespace compete with a policy's target."""

from __future__ import annotations

from nimbusguard.clients import workloads

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

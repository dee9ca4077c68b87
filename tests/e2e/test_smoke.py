"""Smoke tests of the e2e clusters: workloads run on kwok nodes, the scale subresource works,
the generated CRD is served with its printer columns and its validation (schema and CEL) holds
on a real API server, and pod CPU is served through metrics.k8s.io."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from hack import workloads
from tests.e2e import support
from tests.e2e.support import ROOT, E2EClusters, wait_until

GROUP, VERSION, PLURAL = "nimbusguard.io", "v1", "scalingpolicies"
SAMPLES = sorted(
    p for p in (ROOT / "config" / "samples").glob("*.yaml") if p.name != "kustomization.yaml"
)


def deployment(name: str, replicas: int, *, cpu_usage: str | None = None) -> dict[str, Any]:
    """A Deployment for kwok nodes; `cpu_usage` is the CPU kwok reports for each pod."""
    return workloads.deployment(name, replicas, memory="64Mi", cpu_usage=cpu_usage)


def running_pods(api: Any, namespace: str, app: str) -> list[str]:
    pods = support.core_v1(api).list_namespaced_pod(namespace, label_selector=f"app={app}")
    return [
        p.metadata.name
        for p in pods.items
        if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
    ]


def ready_replicas(api: Any, namespace: str, name: str) -> int:
    status = support.apps_v1(api).read_namespaced_deployment(name, namespace).status
    return int(status.ready_replicas or 0)


def create_and_wait_ready(api: Any, namespace: str, name: str, replicas: int) -> None:
    support.apps_v1(api).create_namespaced_deployment(namespace, deployment(name, replicas))
    wait_until(
        lambda: ready_replicas(api, namespace, name) == replicas,
        timeout=90,
        what=f"{replicas} ready replicas of {name}",
    )


def test_deployment_reaches_three_ready_replicas(member_api: Any, member_namespace: str) -> None:
    create_and_wait_ready(member_api, member_namespace, "web", 3)

    assert ready_replicas(member_api, member_namespace, "web") == 3
    assert len(running_pods(member_api, member_namespace, "web")) == 3


def test_scale_subresource_to_five_gives_five_running_pods(
    member_api: Any, member_namespace: str
) -> None:
    create_and_wait_ready(member_api, member_namespace, "web", 3)
    apps = support.apps_v1(member_api)

    scale = apps.patch_namespaced_deployment_scale(
        "web", member_namespace, {"spec": {"replicas": 5}}
    )

    assert scale.spec.replicas == 5
    wait_until(
        lambda: len(running_pods(member_api, member_namespace, "web")) == 5,
        timeout=90,
        what="5 running pods",
    )
    read_back = apps.read_namespaced_deployment_scale("web", member_namespace)
    assert read_back.spec.replicas == 5


def test_crd_is_served_with_its_printer_columns(
    e2e_clusters: E2EClusters, scalingpolicy_crd: str, hub_namespace: str
) -> None:
    sample = SAMPLES[0]
    name = yaml.safe_load(sample.read_text())["metadata"]["name"]
    context = e2e_clusters.hub_context
    e2e_clusters.kubectl(context, "create", "-n", hub_namespace, "-f", str(sample))

    table = e2e_clusters.kubectl(context, "get", "scalingpolicies", "-n", hub_namespace).stdout
    wide = e2e_clusters.kubectl(context, "get", "sp", "-n", hub_namespace, "-o", "wide").stdout

    header, row = table.splitlines()[0].split(), table.splitlines()[1].split()
    assert header == [
        "NAME", "TARGET", "METRIC", "MIN", "MAX", "REPLICAS", "ACTING", "PHASE", "READY", "AGE"
    ]  # fmt: skip
    # No operator runs here, so the status columns are empty.
    assert row[:2] == [name, "consumer-workload"]
    assert {"1", "10"} <= set(row)
    for column in ("KIND", "CLUSTER", "DESIRED", "HPA", "MODE", "REASON"):
        assert column in wide.splitlines()[0].split()


VALID: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ScalingPolicy",
    "metadata": {"name": "probe"},
    "spec": {
        "target": {"kind": "Deployment", "name": "web"},
        "scaling": {"minReplicas": 1, "maxReplicas": 5},
        "metrics": {"cpu": {"targetUtilization": 70}},
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    """VALID with the dotted `path` set to `value`."""
    body = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return body


def rejection(api: Any, namespace: str, body: dict[str, Any]) -> str:
    """The API server's message when it refuses `body` (server-side dry run)."""
    custom = support.custom_objects(api)
    with pytest.raises(kubernetes.client.ApiException) as refused:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, dry_run="All"
        )
    assert refused.value.status == 422, refused.value.body
    return str(refused.value.body)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("spec.scaling", {"minReplicas": 6, "maxReplicas": 5}, "minReplicas must not exceed"),
        ("spec.scaling.minReplicas", -1, "minReplicas must be 0 or more"),
        (
            "spec.scaling",
            {"minReplicas": 2, "maxReplicas": 5, "fallbackReplicas": 9},
            "fallbackReplicas must lie between minReplicas and maxReplicas",
        ),
        (
            "spec.aiConfig",
            {"qLearning": {"epsilonStart": 0.1, "epsilonEnd": 0.5}},
            "epsilonEnd must not exceed epsilonStart",
        ),
        ("spec.aiConfig", {"qLearning": {"learningRate": 0}}, "learningRate must be in (0, 1]"),
        ("spec.aiConfig", {"qLearning": {"learningRate": 1.5}}, "learningRate must be in (0, 1]"),
        (
            "spec.aiConfig",
            {"qLearning": {"discountFactor": 1}},
            "discountFactor must be in [0, 1)",
        ),
        ("spec.target.kind", "Pod", 'Unsupported value: \\"Pod\\"'),
        ("spec.metrics", {}, "metrics needs at least one source: prometheus or cpu"),
        (
            "spec.target",
            {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "target.namespace may only be set together with target.cluster",
        ),
    ],
    ids=[
        "min-above-max",
        "negative-min",
        "fallback-outside-bounds",
        "epsilon-end-above-start",
        "learning-rate-zero",
        "learning-rate-above-one",
        "discount-factor-one",
        "target-kind-pod",
        "metrics-without-source",
        "target-namespace-without-cluster",
    ],
)
def test_api_server_rejects_invalid_policies(
    hub_api: Any,
    scalingpolicy_crd: str,
    hub_namespace: str,
    path: str,
    value: Any,
    message: str,
) -> None:
    assert message in rejection(hub_api, hub_namespace, changed(path, value))


def test_api_server_accepts_the_probe_policy(
    hub_api: Any, scalingpolicy_crd: str, hub_namespace: str
) -> None:
    """The base of the rejection cases is itself valid, so each rejection is due to its change."""
    custom = support.custom_objects(hub_api)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, hub_namespace, PLURAL, VALID)

    assert created["spec"]["scaling"]["cooldownPeriod"] == 60  # defaulted by the schema


def test_api_server_rejects_an_unknown_phase_in_status(
    hub_api: Any, scalingpolicy_crd: str, hub_namespace: str
) -> None:
    custom = support.custom_objects(hub_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, hub_namespace, PLURAL, VALID)

    with pytest.raises(kubernetes.client.ApiException) as refused:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, hub_namespace, PLURAL, "probe", {"status": {"phase": "Exploding"}}
        )

    assert refused.value.status == 422
    assert 'Unsupported value: \\"Exploding\\"' in str(refused.value.body)
    accepted = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, hub_namespace, PLURAL, "probe", {"status": {"phase": "Learning"}}
    )
    assert accepted["status"]["phase"] == "Learning"


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_api_server_accepts_every_sample(
    hub_api: Any, scalingpolicy_crd: str, hub_namespace: str, sample: Path
) -> None:
    body = yaml.safe_load(sample.read_text())
    custom = support.custom_objects(hub_api)

    created = custom.create_namespaced_custom_object(GROUP, VERSION, hub_namespace, PLURAL, body)

    assert created["metadata"]["name"] == body["metadata"]["name"]
    assert created["spec"]["target"]["name"] == body["spec"]["target"]["name"]


def cpu_millicores(quantity: str) -> float:
    """A CPU quantity as metrics.k8s.io writes it (n, u, m or cores) in millicores."""
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in scale:
        return float(quantity[:-1]) * scale[quantity[-1]]
    return float(quantity) * 1000


def test_pod_cpu_is_served_by_metrics_api(
    e2e_clusters: E2EClusters, member_api: Any, member_namespace: str
) -> None:
    custom = support.custom_objects(member_api)
    if e2e_clusters.backend != "local":
        groups = kubernetes.client.ApisApi(member_api).get_api_versions().groups
        if "metrics.k8s.io" not in {g.name for g in groups}:
            pytest.skip("the member cluster serves no metrics.k8s.io")
    apps = support.apps_v1(member_api)
    apps.create_namespaced_deployment(member_namespace, deployment("busy", 2, cpu_usage="250m"))
    samples: dict[str, float] = {}

    def both_pods_measured() -> bool:
        try:
            listing = custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", member_namespace, "pods"
            )
        except kubernetes.client.ApiException:
            return False
        samples.clear()
        for item in listing["items"]:
            usage = sum(cpu_millicores(c["usage"]["cpu"]) for c in item["containers"])
            samples[item["metadata"]["name"]] = usage
        return len(samples) == 2

    # CPU is a counter: metrics-server needs two scrapes (metric resolution 10 s) per pod.
    wait_until(both_pods_measured, timeout=120, what="CPU of 2 pods in metrics.k8s.io")
    for pod, millicores in samples.items():
        assert millicores == pytest.approx(250, rel=0.2), pod

"""The generated Helm chart on a real API server: `helm template` applied server-side.

Namespaced objects are applied for real into the test's namespace (the release namespace) and
the operator's Deployment becomes available; cluster-scoped ones (the CRD, the ClusterRoles and
their binding, the tenancy admission policy and its binding, all shared with the other suites)
are applied with a server-side dry run, which runs the same validation and admission without
changing them.
"""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from hack.gen import helm
from tests.e2e import support
from tests.e2e.support import ROOT, E2EClusters
from tests.unit.packaging.conftest import go_tool

# NB: the tenancy admission policy and its binding apply to every ScalingPolicy of the cluster;
# applied for real they would judge the other suites' policies by this release's grants.
CLUSTER_SCOPED = {
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
FIELD_MANAGER = "nimbusguard-helm-e2e"


def _template(namespace: str, *sets: str) -> list[dict[str, Any]]:
    argv = [go_tool("helm"), "template", "nimbusguard", str(ROOT / helm.CHART_DIR)]
    argv += ["--kube-version", "1.33.0", "-n", namespace]
    for item in sets:
        argv += ["--set", item]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_helm_template_applies_server_side(
    e2e_clusters: E2EClusters, hub_api: Any, hub_namespace: str
) -> None:
    objects = _template(
        hub_namespace, "networkPolicy.enabled=true", "replicas=2", "settings.logLevel=DEBUG"
    )
    cluster_scoped = [o for o in objects if o["kind"] in CLUSTER_SCOPED]
    namespaced = [o for o in objects if o["kind"] not in CLUSTER_SCOPED]
    assert {o["kind"] for o in cluster_scoped} == CLUSTER_SCOPED - {"Namespace"}
    hub = e2e_clusters.hub_context
    apply = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-"]
    e2e_clusters.kubectl(
        hub,
        *apply,
        "--dry-run=server",
        "--force-conflicts",
        stdin=yaml.safe_dump_all(cluster_scoped),
    )
    out = e2e_clusters.kubectl(hub, *apply, stdin=yaml.safe_dump_all(namespaced)).stdout
    for obj in namespaced:
        assert obj["metadata"]["name"] in out
    apps = support.apps_v1(hub_api)

    def available() -> bool:
        status = apps.read_namespaced_deployment(
            "nimbusguard-controller-manager", hub_namespace
        ).status
        return (status.available_replicas or 0) == 2

    support.wait_until(available, timeout=120, what="the chart's Deployment available with 2 pods")
    deployment = apps.read_namespaced_deployment("nimbusguard-controller-manager", hub_namespace)
    (container,) = deployment.spec.template.spec.containers
    assert {"name": "NIMBUSGUARD_LOG_LEVEL", "value": "DEBUG"} in [
        {"name": e.name, "value": e.value} for e in container.env
    ]
    policies = e2e_clusters.kubectl(hub, "get", "networkpolicy", "-n", hub_namespace, "-o", "name")
    assert "nimbusguard-allow-metrics-traffic" in policies.stdout

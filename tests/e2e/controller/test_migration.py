"""Migrating from an HPA as docs/migration.md tells it: convert from the cluster, apply, see the
Conflict while the HPA exists, delete the HPA, and the policy takes over (kubectl get shows
the metric against its target, who acts, and Ready, in 120 columns)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hack import workloads
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario
from tests.e2e.support import E2EClusters

MANIFESTS = Path(__file__).resolve().parents[2] / "unit" / "migration" / "manifests"


def _convert_from_cluster(
    clusters: E2EClusters, namespace: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nimbusguard.cli",
            "convert",
            "--from-cluster",
            "--namespace",
            namespace,
            "--kubeconfig",
            str(clusters.kubeconfig),
            "--context",
            clusters.hub_context,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_convert_an_hpa_from_the_cluster_then_take_over(
    scenario: Scenario, e2e_clusters: E2EClusters
) -> None:
    hub_api, ns, hub = scenario.api, scenario.ns, e2e_clusters.hub_context
    # 3 pods requesting 500m and using 300m: 60 %, within tolerance of the HPA's 65 %, and
    # 3 is the minimum, so neither the HPA nor the policy has a reason to move.
    support.apps_v1(hub_api).create_namespaced_deployment(
        ns, workloads.deployment("web", 3, cpu="500m", cpu_usage="300m")
    )
    hpa: dict[str, Any] = yaml.safe_load((MANIFESTS / "hpa-web-behavior.yaml").read_text())
    hpa["metadata"]["namespace"] = ns
    e2e_clusters.kubectl(hub, "apply", "-f", "-", stdin=yaml.safe_dump(hpa))

    done = _convert_from_cluster(e2e_clusters, ns)
    assert done.returncode == 0, done.stderr
    assert f"converted HorizontalPodAutoscaler {ns}/web" in done.stderr
    (policy,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    spec = policy["spec"]
    assert spec["target"] == {"kind": "Deployment", "name": "web"}
    assert spec["metrics"] == {"cpu": {"targetUtilization": 65}}
    assert (spec["scaling"]["minReplicas"], spec["scaling"]["maxReplicas"]) == (3, 40)
    # The API server stored the HPA with its defaults filled in; they convert the same.
    assert spec["scaling"]["behavior"]["scaleUp"]["maxPods"] == 6
    assert spec["scaling"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert "#   spec.metrics[1]: Resource memory" in done.stdout
    assert f"# $ kubectl delete hpa web -n {ns}\n" in done.stdout

    # Applied as it is (a real API server checks the schema and the CEL rules).
    e2e_clusters.kubectl(hub, "apply", "--server-side", "-n", ns, "-f", "-", stdin=done.stdout)
    scenario.operator()
    h.wait_phase(hub_api, ns, "web", "Error")
    assert h.condition(hub_api, ns, "web", "Conflict")["status"] == "True"

    # The migration guide's next step: delete the HPA. The policy takes over.
    e2e_clusters.kubectl(hub, "delete", "hpa", "web", "-n", ns)
    h.wait_phase(hub_api, ns, "web", "Learning", timeout=90)
    assert h.condition(hub_api, ns, "web", "Conflict")["status"] == "False"
    h.wait_condition(hub_api, ns, "web", "MetricsAvailable", status_="True", timeout=90)
    status = h.status(hub_api, ns, "web")
    assert status["acting"] == "hpa"
    assert status["metricSummary"].endswith("%/65%"), status["metricSummary"]

    table = e2e_clusters.kubectl(hub, "get", "sp", "-n", ns).stdout
    header, row = table.splitlines()[:2]
    assert header.split() == [
        "NAME", "TARGET", "METRIC", "MIN", "MAX", "REPLICAS", "ACTING", "PHASE", "READY", "AGE"
    ]  # fmt: skip
    assert row.split()[:9] == ["web", "web", status["metricSummary"], "3", "40", "3", "hpa",
                               "Learning", "True"]  # fmt: skip
    assert max(len(line) for line in table.splitlines()) <= 120

"""A target the operator may not read: a condition that names the RBAC problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import StartOperator


def _limited_kubeconfig(
    e2e_clusters: support.E2EClusters, member_api: Any, namespace: str, path: Path
) -> None:
    """A kubeconfig whose context `limited` is a ServiceAccount that may read nothing."""
    core = support.core_v1(member_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "limited"}})
    token = core.create_namespaced_service_account_token(
        "limited", namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    config = yaml.safe_load(e2e_clusters.kubeconfig.read_text())
    ctx = next(c for c in config["contexts"] if c["name"] == e2e_clusters.member_context)
    cluster = next(c for c in config["clusters"] if c["name"] == ctx["context"]["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "limited", "cluster": cluster["cluster"]}],
                "users": [{"name": "limited", "user": {"token": token}}],
                "contexts": [
                    {"name": "limited", "context": {"cluster": "limited", "user": "limited"}}
                ],
                "current-context": "limited",
            }
        )
    )


def test_forbidden_target_names_the_rbac_problem(
    e2e_clusters: support.E2EClusters,
    hub_api: Any,
    member_api: Any,
    hub_namespace: str,
    member_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
    tmp_path: Path,
) -> None:
    h.create_deployment(member_api, member_namespace, "secret-app", replicas=1)
    kubeconfig = tmp_path / "members"
    _limited_kubeconfig(e2e_clusters, member_api, member_namespace, kubeconfig)
    h.create_policy(
        hub_api,
        hub_namespace,
        h.policy_body(
            "locked",
            "secret-app",
            query="vector(1)",
            prometheus_url=prometheus.url,
            cluster="limited",
            target_namespace=member_namespace,
        ),
    )
    start_operator(hub_namespace, member_kubeconfig=kubeconfig).wait_ready()
    h.wait_phase(hub_api, hub_namespace, "locked", "Error")
    found = h.condition(hub_api, hub_namespace, "locked", "TargetFound")
    assert (found["status"], found["reason"]) == ("False", "Forbidden")
    assert "may not read" in found["message"]
    assert "ServiceAccount" in found["message"]
    support.wait_until(
        lambda: "Forbidden" in h.event_reasons(hub_api, hub_namespace, "locked"),
        timeout=20,
        what="a Forbidden event",
    )

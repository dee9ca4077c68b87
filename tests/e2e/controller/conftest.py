"""Fixtures of the controller e2e tests: a real Prometheus scraping an exporter of ours, and
operator processes started per test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from hack.gen import kustomize
from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
from nimbusguard import tenancy
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.support import E2EClusters

StartOperator = Callable[..., OperatorProcess]


@pytest.fixture(scope="session")
def load_exporter() -> Iterator[LoadExporter]:
    exporter = LoadExporter()
    yield exporter
    exporter.close()


@pytest.fixture(scope="session")
def prometheus(load_exporter: LoadExporter) -> Iterator[LocalPrometheus]:
    scrape = [{"job_name": "e2e", "static_configs": [{"targets": [load_exporter.target]}]}]
    with LocalPrometheus(scrape) as prom:
        prom.wait_for_targets_up()
        yield prom


@pytest.fixture
def series(request: pytest.FixtureRequest, load_exporter: LoadExporter) -> Iterator[str]:
    """A demand series of this test's own; removed afterwards."""
    name = request.node.name.replace("[", "-").replace("]", "")
    yield name
    load_exporter.remove(name)


@pytest.fixture
def start_operator(
    e2e_clusters: E2EClusters, e2e_logs: Any, tmp_path: Path
) -> Iterator[StartOperator]:
    """Start `nimbusguard run` for the given namespaces; every one is stopped at the end."""
    started: list[OperatorProcess] = []

    def start(*namespaces: str, **kwargs: Any) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        kwargs.setdefault("member_kubeconfig", e2e_clusters.kubeconfig)
        op = OperatorProcess(
            kubeconfig=e2e_clusters.kubeconfig,
            context=e2e_clusters.hub_context,
            namespaces=namespaces,
            log_file=log,
            **kwargs,
        )
        e2e_logs.register(log, f"operator {op.identity}")
        started.append(op)
        return op.start()

    yield start
    for op in started:
        op.stop()


@dataclass
class Scenario:
    """What most controller tests need: a hub namespace, the CRD, Prometheus with our
    exporter, a demand series of the test's own, and a way to start operators."""

    api: Any
    ns: str
    prometheus: LocalPrometheus
    exporter: LoadExporter
    series: str
    start_operator: StartOperator

    def demand(self, value: float, series: str | None = None) -> None:
        """Set the total demand (1 per replica is on target) of a series of this test."""
        self.exporter.set(self.series if series is None else f"{self.series}-{series}", value)

    def deployment(self, name: str, replicas: int, api: Any = None) -> None:
        h.create_deployment(api or self.api, self.ns, name, replicas)

    def policy(self, name: str, target: str, *, series: str | None = None, **kw: Any) -> None:
        """A ScalingPolicy on the demand series (`series` names one of this test's others)."""
        full = self.series if series is None else f"{self.series}-{series}"
        kw.setdefault("query", h.demand_query(full))
        kw.setdefault("prometheus_url", self.prometheus.url)
        h.create_policy(self.api, self.ns, h.policy_body(name, target, **kw))

    def operator(self, **kwargs: Any) -> OperatorProcess:
        """An operator for this test's namespace, ready."""
        op = self.start_operator(self.ns, **kwargs)
        op.wait_ready(role="leader" if kwargs.get("leader_elect") else None)
        return op


@pytest.fixture
def scenario(
    hub_api: Any,
    hub_namespace: str,
    scalingpolicy_crd: str,
    start_operator: StartOperator,
    prometheus: LocalPrometheus,
    load_exporter: LoadExporter,
    series: str,
) -> Scenario:
    return Scenario(hub_api, hub_namespace, prometheus, load_exporter, series, start_operator)


# ---------------------------------------------------------------- tenancy admission policy

ADMISSION = support.ROOT / "config" / "admission"
Admission = Callable[[dict[str, str]], None]


def install_admission(e2e_clusters: support.E2EClusters, namespace: str) -> list[dict[str, Any]]:
    """config/admission for `namespace` alone; the objects, to delete afterwards."""
    objects = kustomize.build(ADMISSION)
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "ConfigMap":
            meta["name"], meta["namespace"] = tenancy.CONFIG_MAP, namespace
            continue
        meta.pop("namespace", None)
        meta["name"] = f"nimbusguard-tenancy-{namespace}"
        if obj["kind"] == "ValidatingAdmissionPolicyBinding":
            spec = obj["spec"]
            spec["policyName"] = meta["name"]
            spec["paramRef"]["name"] = tenancy.CONFIG_MAP
            spec["paramRef"]["namespace"] = namespace
            spec["matchResources"] = {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            }
    e2e_clusters.kubectl(
        e2e_clusters.hub_context,
        "apply",
        "--server-side",
        "-f",
        "-",
        stdin=kustomize.dump(objects),
    )
    return objects


def set_grants(api: Any, namespace: str, grants: dict[str, str]) -> None:
    support.core_v1(api).patch_namespaced_config_map(
        tenancy.CONFIG_MAP, namespace, {"data": grants}
    )


def dry_run(api: Any, namespace: str, body: dict[str, Any]) -> str | None:
    """None when the API server admits `body`; else its message."""
    try:
        support.custom_objects(api).create_namespaced_custom_object(
            h.GROUP, h.VERSION, namespace, h.PLURAL, body, dry_run="All"
        )
    except kubernetes.client.ApiException as exc:
        message: str = json.loads(exc.body or "{}").get("message") or str(exc.reason)
        return message
    return None


def wait_enforced(api: Any, namespace: str) -> None:
    """The admission policy takes a moment to be loaded; wait until it refuses."""
    probe = h.policy_body("probe", "web", cluster="elsewhere", target_namespace="kube-system")
    support.wait_until(
        lambda: dry_run(api, namespace, probe) is not None,
        timeout=30,
        what="the tenancy admission policy to refuse",
    )


@pytest.fixture
def admission(
    e2e_clusters: support.E2EClusters, hub_api: Any, hub_namespace: str, scalingpolicy_crd: str
) -> Iterator[Admission]:
    """Install the admission policy for the test's namespace with the given grants."""
    installed: list[dict[str, Any]] = []

    def install(grants: dict[str, str]) -> None:
        installed.extend(install_admission(e2e_clusters, hub_namespace))
        set_grants(hub_api, hub_namespace, grants)
        wait_enforced(hub_api, hub_namespace)

    yield install
    if installed:
        e2e_clusters.kubectl(
            e2e_clusters.hub_context,
            "delete",
            "--ignore-not-found",
            "-f",
            "-",
            stdin=kustomize.dump(installed),
            check=False,
        )

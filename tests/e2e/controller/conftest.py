"""Fixtures of the controller e2e tests: a real Prometheus scraping an exporter of ours, and
operator processes started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
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

"""Fixtures of the controller e2e tests: a real Prometheus scraping an exporter of ours, and
operator processes started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
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

"""CPU utilization with the HPA's semantics, from pod objects and metrics.k8s.io items."""

from __future__ import annotations

import types as pytypes
from typing import Any

import pytest

from nimbusguard.clients import errors, resource_metrics


def _pod(
    name: str,
    *,
    cpu: str | None = "500m",
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
) -> Any:
    ns = pytypes.SimpleNamespace
    requests = {"cpu": cpu} if cpu is not None else {}
    return ns(
        metadata=ns(name=name, deletion_timestamp="x" if deleting else None),
        spec=ns(containers=[ns(name="app", resources=ns(requests=requests))]),
        status=ns(phase=phase, conditions=[ns(type="Ready", status="True" if ready else "False")]),
    )


def _usage(name: str, cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "containers": [{"name": "app", "usage": {"cpu": cpu}}]}


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [("250m", 0.25), ("1", 1.0), ("1.5", 1.5), ("123456789n", 0.123456789), ("500u", 0.0005)],
)
def test_parse_cpu(quantity: str, cores: float) -> None:
    assert resource_metrics.parse_cpu(quantity) == pytest.approx(cores)


def test_parse_cpu_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a CPU quantity"):
        resource_metrics.parse_cpu("lots")


def test_utilization_counts_ready_pods_with_samples_only() -> None:
    pods = [
        _pod("a"),
        _pod("b"),
        _pod("starting", ready=False),
        _pod("leaving", deleting=True),
        _pod("no-sample"),
    ]
    usage = [
        _usage("a", "400m"),
        _usage("b", "200m"),
        _usage("starting", "900m"),
        _usage("leaving", "900m"),
    ]
    percent, counted = resource_metrics.utilization(pods, usage)
    assert counted == 2
    assert percent == pytest.approx(100 * 0.6 / 1.0)


def test_a_pod_without_a_request_is_an_error_naming_it() -> None:
    with pytest.raises(errors.MetricError, match="pod a has no CPU request"):
        resource_metrics.utilization([_pod("a", cpu=None)], [_usage("a", "100m")])


def test_no_samples_is_an_error() -> None:
    with pytest.raises(errors.MetricError, match="no ready pod"):
        resource_metrics.utilization([_pod("a")], [])

"""The scale benchmark's readings: counter deltas, histogram quantiles, /proc."""

from __future__ import annotations

import os

import pytest

from benchmarks import scale_probe as probe

BEFORE = """
# TYPE apiserver_request_total counter
apiserver_request_total{verb="PATCH",resource="scalingpolicies",subresource="status",code="200"} 10
apiserver_request_total{verb="GET",resource="deployments",subresource="scale",code="200"} 5
# TYPE lag_seconds histogram
lag_seconds_bucket{le="0.1"} 10
lag_seconds_bucket{le="1.0"} 10
lag_seconds_bucket{le="+Inf"} 10
lag_seconds_sum 0.5
lag_seconds_count 10
"""
AFTER = """
# TYPE apiserver_request_total counter
apiserver_request_total{verb="PATCH",resource="scalingpolicies",subresource="status",code="200"} 40
apiserver_request_total{verb="PATCH",resource="scalingpolicies",subresource="status",code="429"} 2
apiserver_request_total{verb="GET",resource="deployments",subresource="scale",code="200"} 6
# TYPE lag_seconds histogram
lag_seconds_bucket{le="0.1"} 60
lag_seconds_bucket{le="1.0"} 110
lag_seconds_bucket{le="+Inf"} 110
lag_seconds_sum 30
lag_seconds_count 110
"""


def test_request_deltas_by_verb_and_resource_and_429s() -> None:
    before, after = probe.parse(BEFORE), probe.parse(AFTER)
    requests = probe.delta(before, after, "apiserver_request_total")

    assert probe.requests_by(requests) == {
        "PATCH scalingpolicies/status": 32.0,
        "GET deployments/scale": 1.0,
    }
    assert probe.total(requests, code="429") == 2.0


def test_histogram_quantiles_interpolate_inside_the_bucket() -> None:
    buckets = probe.histogram_delta(probe.parse(BEFORE), probe.parse(AFTER), "lag_seconds")

    assert buckets == {0.1: 50.0, 1.0: 100.0, float("inf"): 100.0}
    assert probe.quantile(0.5, buckets) == pytest.approx(0.1)
    assert probe.quantile(0.99, buckets) == pytest.approx(0.1 + 0.9 * 49 / 50)
    assert probe.quantile(0.5, {1.0: 0.0, float("inf"): 0.0}) is None


def test_own_process_cpu_and_rss_are_read_from_proc() -> None:
    assert probe.rss_bytes(os.getpid()) > 1024 * 1024
    spent = probe.cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    assert probe.cpu_seconds(os.getpid()) >= spent
    assert probe.cpu_seconds(2**22 + 7) == 0.0  # no such process

"""The scale benchmark's load exporter: one series per policy, movers and steady ones."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from hack import scaleload


def test_steady_series_stay_within_the_hpa_tolerance_of_one_replica() -> None:
    for index in range(1, 10):  # index 0 is a mover
        for now in (0.0, 150.0, 300.0, 450.0):
            ratio = scaleload.value(index, now) / scaleload.TARGET_VALUE
            assert 0.9 < ratio < 1.0


def test_movers_swing_between_one_and_three_replicas_worth() -> None:
    values = [scaleload.value(0, t) / scaleload.TARGET_VALUE for t in range(0, 600, 10)]
    assert min(values) < 1.1
    assert max(values) > 2.9


def test_the_page_has_one_sample_per_series_matching_its_query() -> None:
    page = scaleload.render(25, now=42.0).decode()
    (family,) = list(text_string_to_metric_families(page))
    assert family.name == scaleload.METRIC
    assert [s.labels["policy"] for s in family.samples] == [
        scaleload.series_name(i) for i in range(25)
    ]
    assert scaleload.query(7) == 'nimbusguard_bench_load{policy="p0007"}'


def test_the_exporter_serves_changing_values() -> None:
    ticks = iter([0.0, 150.0])
    exporter = scaleload.ScaleLoad(3, clock=lambda: next(ticks))
    try:
        pages = []
        for _ in range(2):
            url = f"http://{exporter.target}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                pages.append(resp.read().decode())
    finally:
        exporter.close()
    assert pages[0] != pages[1]
    assert pages[0].count(scaleload.METRIC + "{") == 3

"""/metrics is prometheus-client's own handler over the operator's registry."""

from __future__ import annotations

from aiohttp import test_utils

from controllers import health, observability
from nimbusguard import version


async def _get(path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    metrics = observability.Metrics()
    server = test_utils.TestServer(health.metrics_app(metrics), host="127.0.0.1")
    async with test_utils.TestClient(server) as client:
        response = await client.get(path, headers=headers or {})
        return response.status, response.headers["Content-Type"], await response.text()


async def test_metrics_has_build_info_and_process_metrics() -> None:
    status, content_type, body = await _get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'nimbusguard_build_info{python_implementation="' in body
    assert f'version="{version.version()}"' in body
    for family in ("process_resident_memory_bytes", "python_info", "python_gc_objects_collected"):
        assert family in body, family
    assert "nimbusguard_policies_by_phase" in body


async def test_metrics_speaks_openmetrics_when_asked() -> None:
    _, content_type, body = await _get(
        "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


async def test_metrics_filters_by_name() -> None:
    _, _, body = await _get("/metrics?name[]=nimbusguard_build_info")
    assert "nimbusguard_build_info" in body
    assert "process_resident_memory_bytes" not in body

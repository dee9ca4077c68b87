"""A small Prometheus exporter of synthetic load, for the e2e tests and the demo.

It serves one gauge family (by default `e2e_demand{series="<name>"}`) on 127.0.0.1; callers
set a series and Prometheus scrapes it. A series may also follow a callable, evaluated at
every scrape, so a caller can model utilization from a load schedule and the ready replicas
it reads from the API server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client as prom
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _Series(Collector):
    def __init__(self, metric: str, help_text: str) -> None:
        self._metric, self._help = metric, help_text
        self._values: dict[str, float | Callable[[], float]] = {}
        self._lock = threading.Lock()

    def set(self, name: str, value: float | Callable[[], float]) -> None:
        with self._lock:
            self._values[name] = value

    def remove(self, name: str) -> None:
        with self._lock:
            self._values.pop(name, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._metric, self._help, labels=["series"])
        with self._lock:
            items = list(self._values.items())
        for name, value in items:
            number = value() if callable(value) else value
            family.add_metric([name], float(number))
        yield family


class LoadExporter:
    """Serves the series until `close()`."""

    def __init__(
        self, metric: str = "e2e_demand", help_text: str = "Demand the e2e tests drive."
    ) -> None:
        self.registry = prom.CollectorRegistry()
        self._series = _Series(metric, help_text)
        self.registry.register(self._series)
        server, thread = prom.start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self._server: Any = server
        self._thread = thread
        self.port: int = server.server_port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, series: str, value: float | Callable[[], float]) -> None:
        self._series.set(series, value)

    def remove(self, series: str) -> None:
        self._series.remove(series)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

"""A Prometheus exporter of N synthetic load series, for the scale benchmark.

    exporter = ScaleLoad(n=1000)       # serves nimbusguard_bench_load{policy="p0000"} ...
    exporter.target                   # "127.0.0.1:<port>", for a scrape config
    exporter.close()

Every series changes at every scrape. Most wander by a few percent around a level that keeps
their Deployment at its current size (inside the HPA's 10 % tolerance, so the decision is to
hold); every `mover_every`-th series swings between one and three replicas' worth of load over
`period` seconds, so a fleet-sized benchmark also scales some targets, as a real fleet does.

The page is rendered by hand, not through prometheus_client's collectors: at 2,000 series
every 1-2 s the exporter shares the machine with what it measures and must stay cheap.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METRIC = "nimbusguard_bench_load"
TARGET_VALUE = 100.0  # per replica: the policies' AverageValue target


def series_name(index: int) -> str:
    return f"p{index:04d}"


def query(index: int) -> str:
    """The PromQL each benchmark policy asks: its own series (one sample)."""
    return f'{METRIC}{{policy="{series_name(index)}"}}'


def value(index: int, now: float, *, mover_every: int = 10, period: float = 600.0) -> float:
    """Load of series `index` at time `now` (pure, so tests can pin it)."""
    phase = (index * 0.6180339887) % 1.0  # golden-ratio spread: no two series in step
    wave = math.sin(2 * math.pi * (now / period + phase))
    if mover_every > 0 and index % mover_every == 0:
        return TARGET_VALUE * (2.0 + wave)  # 1-3 replicas' worth
    return TARGET_VALUE * (0.95 + 0.04 * wave)  # within the tolerance of one replica


def render(n: int, now: float, *, mover_every: int = 10, period: float = 600.0) -> bytes:
    """The exposition page of all `n` series at `now`."""
    lines = [f"# TYPE {METRIC} gauge"]
    for index in range(n):
        number = value(index, now, mover_every=mover_every, period=period)
        lines.append(f'{METRIC}{{policy="{series_name(index)}"}} {number:.4f}')
    return ("\n".join(lines) + "\n").encode()


class ScaleLoad:
    """Serves `n` series on 127.0.0.1 (a free port) until `close()`."""

    def __init__(
        self,
        n: int,
        *,
        mover_every: int = 10,
        period: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.n = n
        page = self._page

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page(clock())
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._mover_every, self._period = mover_every, period
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.port: int = self._server.server_address[1]

    def _page(self, now: float) -> bytes:
        return render(self.n, now, mover_every=self._mover_every, period=self._period)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

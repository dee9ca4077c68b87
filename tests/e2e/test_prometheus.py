"""LocalPrometheus runs Debian's real Prometheus: it scrapes an exporter in the test, answers
queries, can be killed (clients see it gone) and restarted on the same URL."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hack.localcluster import LocalPrometheus


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE e2e_load gauge\ne2e_load 42\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def exporter() -> Iterator[str]:
    """A /metrics endpoint on 127.0.0.1 serving the gauge e2e_load = 42; its address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("GET", "/-/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def test_prometheus_scrapes_is_killed_and_comes_back(exporter: str) -> None:
    scrape = [{"job_name": "e2e", "static_configs": [{"targets": [exporter]}]}]
    prometheus = LocalPrometheus(scrape)
    with prometheus:
        prometheus.wait_for_targets_up(timeout=30)
        workdir: Path = prometheus.workdir
        url = prometheus.url

        result = prometheus.query("e2e_load")

        assert [sample["value"][1] for sample in result] == ["42"]
        assert url.startswith("http://127.0.0.1:")

        prometheus.kill()
        assert not prometheus.running()
        assert not answers(url)

        prometheus.start()
        assert prometheus.url == url
        assert answers(url)
        prometheus.wait_for_targets_up(timeout=30)
        assert [s["value"][1] for s in prometheus.query("e2e_load")] == ["42"]

    assert not prometheus.running()
    assert not workdir.exists()

"""A scripted stand-in for Prometheus on 127.0.0.1: each path prefix answers one way.

A policy's `serverAddress` is `<url>/<mode>`; the operator appends `/api/v1/query`, so the
first path segment picks the answer: `value-<x>` a healthy one-sample vector with value x,
`series-<name>` the value a test `set` for that name; every other mode is a way a real or
hostile server can misbehave (see `MODES`). `<mode>~<tag>` answers like `<mode>` but is
counted (and keeps its series) apart, so tests sharing the server do not mix their records.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, str, bytes]  # status, content type, body

JSON = "application/json"


def _vector(*values: Any) -> bytes:
    result = [{"metric": {"i": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


# Mode -> answer. NaN, ±Inf and 1e308 are what Prometheus itself can return; the others are
# broken or hostile servers.
MODES: dict[str, Answer] = {
    "nan": (200, JSON, _vector("NaN")),
    "inf": (200, JSON, _vector("+Inf")),
    "neginf": (200, JSON, _vector("-Inf")),
    "huge": (200, JSON, _vector("1e308")),
    "negative": (200, JSON, _vector("-1")),
    "empty": (200, JSON, _vector()),
    "two": (200, JSON, _vector("1", "2")),
    "string": (
        200,
        JSON,
        json.dumps(
            {"status": "success", "data": {"resultType": "string", "result": [1.0, "three"]}}
        ).encode(),
    ),
    "html500": (500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>"),
    "nonjson": (200, JSON, b"this is not json {"),
    "nested": (200, JSON, _nested(200_000)),
}
TARPIT = "tarpit"  # answers only after `tarpit_seconds` (or when the server closes)
REDIRECT = "redirect"  # 302 to a healthy answer on another host name (localhost)
VALUE = "value-"
SERIES = "series-"  # the value last `set` for the series, or an empty vector before that


class FakePrometheus:
    """The server (a daemon thread per request); `close()` also releases tarpitted requests."""

    def __init__(self, tarpit_seconds: float = 70.0) -> None:
        self.tarpit_seconds = tarpit_seconds
        self._closing = threading.Event()
        self.requests: dict[str, list[float]] = {}
        self._series: dict[str, float] = {}
        self._lock = threading.Lock()
        handler = _handler_class(self._answer)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def address(self, mode: str) -> str:
        """The serverAddress for a policy that should get `mode`'s answer."""
        return f"{self.url}/{mode}"

    def series(self, name: str) -> str:
        """The serverAddress of series `name`, whose value `set` changes."""
        return self.address(f"{SERIES}{name}")

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._series[name] = value

    def clear(self, name: str) -> None:
        """Series `name` answers an empty vector again (as a sum over no pods does)."""
        with self._lock:
            self._series.pop(name, None)

    def count(self, mode: str) -> int:
        """How many queries `mode` has received."""
        return len(self.arrivals(mode))

    def arrivals(self, mode: str) -> list[float]:
        """When (time.time()) each query of `mode` arrived: the server's record of the
        operator's evaluation cadence."""
        with self._lock:
            return list(self.requests.get(mode, []))

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> Answer | tuple[int, str, bytes, dict[str, str]]:
        key = path.lstrip("/").split("/", 1)[0]
        with self._lock:
            self.requests.setdefault(key, []).append(time.time())
        mode = key.split("~", 1)[0]
        if mode in MODES:
            return MODES[mode]
        if mode.startswith(VALUE):
            return 200, JSON, _vector(mode.removeprefix(VALUE))
        if mode.startswith(SERIES):
            with self._lock:
                value = self._series.get(key.removeprefix(SERIES))
            return 200, JSON, _vector() if value is None else _vector(repr(value))
        if mode == TARPIT:
            self._closing.wait(self.tarpit_seconds)
            return 200, JSON, _vector("1")
        if mode == REDIRECT:
            # Another host: a client that follows it leaves the allowed endpoint.
            where = f"http://localhost:{self.port}/{VALUE}1/api/v1/query"
            return 302, "text/plain", b"", {"Location": where}
        return 404, "text/plain", b"no such mode"


def _handler_class(
    answer: Callable[[str], Answer | tuple[int, str, bytes, dict[str, str]]],
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def _reply(self) -> None:
            got = answer(self.path.split("?", 1)[0])
            status, content_type, body = got[0], got[1], got[2]
            headers: dict[str, str] = got[3] if len(got) == 4 else {}
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeouts are part of the script)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler

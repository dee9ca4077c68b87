"""A small HTTPS/JSON client for the launcher's own calls (health checks, nodes, APIService),
so that starting clusters does not need the kubernetes package; plus a deadline poller."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ApiError(Exception):
    """A request got a non-2xx answer (status 0: no answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class Api:
    """Requests to `host:port` over TLS, authenticated with a client certificate.

    Without `ca_file` the server's certificate is not verified (for components that serve
    self-signed certificates, such as the controller manager's health port).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ca_file: Path | None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._files = (ca_file, cert_file, key_file)
        self._context: ssl.SSLContext | None = None

    def _ssl(self) -> ssl.SSLContext:
        # Built on first use: the files may be written after the client is made.
        if self._context is None:
            ca_file, cert_file, key_file = self._files
            if ca_file is not None:
                context = ssl.create_default_context(cafile=str(ca_file))
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if cert_file is not None:
                context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
            self._context = context
        return self._context

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request; (status, body). Raises ApiError(0, …) when nothing answers."""
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self._ssl(), timeout=self.timeout
        )
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ApiError(0, f"{method} https://{self.host}:{self.port}{path}: {error}") from error
        finally:
            conn.close()

    def ok(self, path: str) -> bool:
        """Whether GET `path` answers 200 now."""
        try:
            status, _ = self.request("GET", path)
        except ApiError:
            return False
        return status == 200

    def get(self, path: str) -> Any:
        status, data = self.request("GET", path)
        if status != 200:
            raise ApiError(status, data.decode(errors="replace")[:500])
        return json.loads(data)

    def create(self, path: str, obj: dict[str, Any]) -> None:
        """POST `obj` to the collection `path`; an object that already exists is fine."""
        status, data = self.request("POST", path, obj)
        if status not in (200, 201, 202, 409):
            raise ApiError(status, data.decode(errors="replace")[:500])


def plain_ok(host: str, port: int, path: str, timeout: float = 5.0) -> bool:
    """Whether GET http://host:port/path answers 200 now (for etcd's /health)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], Exception | None] = lambda: None,
) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False).

    `abort` is checked before each poll; the exception it returns is raised at once (for
    example: the process we wait for has exited).
    """
    deadline = time.monotonic() + timeout
    while True:
        error = abort()
        if error is not None:
            raise error
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

"""A TCP proxy on 127.0.0.1 in front of an API server, able to blackhole its traffic.

TLS passes through untouched (the API server's certificate is valid for 127.0.0.1), so a
kubeconfig only needs the proxy's port instead of the server's. While blackholed, every byte
in either direction is read and dropped, and new connections are accepted and then ignored:
to the client the server is silent, as across a partition, and no request sent meanwhile
ever reaches the server. On `restore`, connections that lost bytes are closed (their TLS
streams are broken anyway) and clients reconnect.

The proxy runs its own event loop in a daemon thread; the methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

_CHUNK = 65536


class _Connection:
    def __init__(self, writers: list[asyncio.StreamWriter]) -> None:
        self.writers = writers
        self.tainted = False

    def close(self) -> None:
        for writer in self.writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class TcpProxy:
    """Forward 127.0.0.1:<port> to `target_host:target_port` (see the module docstring)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._blackholed = False
        self._connections: set[_Connection] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port: int = self._call(self._listen())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def blackholed(self) -> bool:
        return self._blackholed

    def blackhole(self) -> None:
        """Drop all traffic from now on (existing and new connections)."""
        self._call(self._set(True))

    def restore(self) -> None:
        """Forward again; connections that dropped bytes are closed."""
        self._call(self._set(False))

    def close(self) -> None:
        """Stop listening, close every connection, end the thread."""
        if not self._loop.is_running():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- loop side

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _set(self, blackholed: bool) -> None:
        self._blackholed = blackholed
        if blackholed:
            for connection in self._connections:
                connection.tainted = True
            return
        for connection in [c for c in self._connections if c.tainted]:
            connection.close()
            self._connections.discard(connection)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self._connections:
            connection.close()
        self._connections.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection([writer])
        connection.tainted = self._blackholed
        self._connections.add(connection)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            connection.close()
            self._connections.discard(connection)
            return
        connection.writers.append(upstream_writer)
        await asyncio.gather(
            self._pump(reader, upstream_writer, connection),
            self._pump(upstream_reader, writer, connection),
            return_exceptions=True,
        )
        connection.close()
        self._connections.discard(connection)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                break
            if self._blackholed or connection.tainted:
                connection.tainted = True
                continue  # dropped, like packets into a partition
            writer.write(data)
            await writer.drain()
        connection.close()

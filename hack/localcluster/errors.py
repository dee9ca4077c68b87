"""Errors of the launcher: each carries a one-line message naming the component and its log."""

from __future__ import annotations

from pathlib import Path


class LocalClusterError(Exception):
    """Base class; `str(error)` is a one-line message fit to show a user as it is."""


class MissingBinaryError(LocalClusterError):
    """A binary the launcher needs is not built (run `make envtest`)."""


class PortInUseError(LocalClusterError):
    """A port a component must listen on is taken by another process."""

    def __init__(self, component: str, port: int, log_path: Path | None) -> None:
        where = f" (its log would be {log_path})" if log_path else ""
        super().__init__(f"{component}: port 127.0.0.1:{port} is already in use{where}")
        self.component = component
        self.port = port
        self.log_path = log_path


class ComponentError(LocalClusterError):
    """A component exited or never became healthy.

    `log_tail` holds the last lines of its log, for the caller to show under the message.
    """

    def __init__(self, component: str, problem: str, log_path: Path | None) -> None:
        where = f"; log: {log_path}" if log_path else ""
        super().__init__(f"{component}: {problem}{where}")
        self.component = component
        self.log_path = log_path
        self.log_tail = tail(log_path) if log_path else ""


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a text file, or an empty string when it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

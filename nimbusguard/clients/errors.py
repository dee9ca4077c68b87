"""Errors of the I/O layer, each with a CamelCase reason for status conditions and Events."""

from __future__ import annotations

import json
from typing import Any


class ClientError(Exception):
    """Base of every error the clients raise; `reason` is a condition/Event reason."""

    reason = "ClientError"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class ConfigError(ClientError):
    """The operator's own configuration is unusable (fatal at start-up)."""

    reason = "InvalidConfiguration"


class ClusterConfigError(ClientError):
    """A policy names a cluster the operator cannot know (no kubeconfig, unknown context)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)


class ClusterUnreachableError(ClientError):
    """A connection failed or timed out; transient."""

    reason = "ClusterUnreachable"


class ApiError(ClientError):
    """The API server answered with an error status."""

    reason = "ApiError"

    def __init__(self, status: int, message: str, *, cluster: str | None = None) -> None:
        super().__init__(message, reason=_REASONS.get(status, "ApiError"))
        self.status = status
        self.cluster = cluster

    @classmethod
    def from_exception(cls, exc: Any, *, cluster: str | None = None) -> ApiError:
        return cls.from_answer(
            int(getattr(exc, "status", 0) or 0),
            getattr(exc, "reason", None),
            getattr(exc, "body", None),
            cluster=cluster,
        )

    @classmethod
    def from_answer(
        cls, status: int, reason: str | None, body: str | bytes | None, *, cluster: str | None
    ) -> ApiError:
        """An error status as the server sent it: the message of its Status object if the
        body is one, else the reason phrase (else the start of the body)."""
        detail = str(reason or "")
        if body:
            try:
                detail = str(json.loads(body).get("message") or detail)
            except (ValueError, TypeError, AttributeError):
                text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
                detail = detail or text[:300]
        return cls(status, f"HTTP {status}: {detail}".strip(), cluster=cluster)

    @property
    def transient(self) -> bool:
        return self.status in (0, 409, 429) or self.status >= 500


_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
}


class MetricError(ClientError):
    """A metric could not be read or is not a single finite number."""

    reason = "MetricUnavailable"

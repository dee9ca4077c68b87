"""Operator settings from flags and environment variables, validated before anything starts.

A bad value (say, a log level from a kustomize overlay typo) stops the operator at start-up
with one clear line naming the setting, instead of failing later or being ignored.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import pydantic

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["json", "text"]
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_namespace() -> str:
    try:
        return SA_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


class Settings(pydantic.BaseModel):
    """Everything `nimbusguard run` can be told."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    kubeconfig: Path | None = None
    context: str | None = None
    member_kubeconfig: Path | None = None
    namespaces: tuple[str, ...] = ()
    bind_address: str = "127.0.0.1:8080"
    # /metrics: "0" = not served; secure = TLS + TokenReview/SubjectAccessReview.
    metrics_bind_address: str = "0"
    metrics_secure: bool = True
    metrics_cert_dir: Path | None = None
    leader_elect: bool = False
    lease_name: str = "nimbusguard-operator"
    lease_namespace: str = pydantic.Field(default_factory=_default_namespace)
    lease_duration: float = pydantic.Field(default=15.0, gt=1)
    renew_deadline: float = pydantic.Field(default=10.0, gt=0.5)
    retry_period: float = pydantic.Field(default=2.0, gt=0.1)
    identity: str = pydantic.Field(
        default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    )
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"
    # Where the operator keeps its own state and configuration (Q-tables, tenancy grants).
    operator_namespace: str = pydantic.Field(default_factory=_default_namespace)
    metric_endpoints: Path | None = None
    metric_credentials: Path | None = None
    allow_prometheus_address: tuple[str, ...] = ()
    prometheus_max_response_bytes: int = pydantic.Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024
    )

    @pydantic.field_validator("allow_prometheus_address")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from nimbusguard.clients import endpoints

        for pattern in value:
            try:
                endpoints.AddressPattern.parse(pattern)
            except ValueError as exc:
                raise ValueError(f"{pattern!r}: {exc}") from exc
        return value

    @pydantic.field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @pydantic.field_validator("bind_address", "metrics_bind_address")
    @classmethod
    def _host_port(cls, value: str, info: pydantic.ValidationInfo) -> str:
        if info.field_name == "metrics_bind_address" and value == "0":
            return value
        _, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080 or :8080)")
        return value

    @pydantic.model_validator(mode="after")
    def _lease_timings(self) -> Settings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry-period < renew-deadline < lease-duration")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return _split(self.bind_address)

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        """Where /metrics is served, or None when it is not."""
        return None if self.metrics_bind_address == "0" else _split(self.metrics_bind_address)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)  # noqa: S104 (":8080" means all interfaces)


class SettingsError(Exception):
    """Invalid settings; the message is one line naming the setting."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `nimbusguard run`; each defaults to an environment variable."""
    env = "environment variable"
    a = parser.add_argument
    a("--kubeconfig", help="hub kubeconfig (default: in-cluster, else $KUBECONFIG)")
    a("--context", help="hub kubeconfig context (default: the current context)")
    a(
        "--member-kubeconfig",
        help=f"kubeconfig with a context per member cluster ({env} NIMBUSGUARD_MEMBER_KUBECONFIG)",
    )
    a(
        "--namespace",
        action="append",
        dest="namespaces",
        help=f"watch only this namespace (repeatable; {env} WATCH_NAMESPACE, comma-separated; "
        "default: all)",
    )
    a(
        "--bind-address",
        help=f"HOST:PORT of /healthz and /readyz, open for probes ({env} NIMBUSGUARD_BIND_ADDRESS)",
    )
    a(
        "--metrics-bind-address",
        help="HOST:PORT of /metrics, or 0 to not serve it (default 0; "
        f"{env} NIMBUSGUARD_METRICS_BIND_ADDRESS)",
    )
    a(
        "--metrics-secure",
        type=_flag,
        help="true (default): /metrics over TLS, callers authenticated with TokenReview and "
        "authorized with SubjectAccessReview; false: plain HTTP for local development",
    )
    a(
        "--metrics-cert-dir",
        help="directory with tls.crt and tls.key for /metrics (default: self-signed)",
    )
    a(
        "--leader-elect",
        action="store_true",
        default=None,
        help=f"elect a leader through a Lease before acting ({env} NIMBUSGUARD_LEADER_ELECT=true)",
    )
    a("--lease-name", help="name of the leader-election Lease")
    a("--lease-namespace", help="namespace of the Lease (default: the pod's namespace)")
    a("--lease-duration", type=float, help="seconds a leader holds the Lease without renewing")
    a("--renew-deadline", type=float, help="seconds a leader tries to renew before giving up")
    a("--retry-period", type=float, help="seconds between Lease attempts")
    a("--identity", help="this instance's identity in the Lease (default: hostname + random)")
    a("--log-level", help=f"DEBUG, INFO, WARNING or ERROR ({env} NIMBUSGUARD_LOG_LEVEL)")
    a("--log-format", help=f"json or text ({env} NIMBUSGUARD_LOG_FORMAT)")
    a(
        "--operator-namespace",
        help="namespace of the operator's own state and configuration: Q-tables, tenancy "
        f"grants ({env} NIMBUSGUARD_OPERATOR_NAMESPACE; default: the pod's namespace)",
    )
    a(
        "--metric-endpoints",
        help="YAML file listing the approved Prometheus endpoints and allowed server "
        f"addresses ({env} NIMBUSGUARD_METRIC_ENDPOINTS)",
    )
    a(
        "--metric-credentials",
        help="directory with the endpoints' credential and TLS files "
        f"({env} NIMBUSGUARD_METRIC_CREDENTIALS)",
    )
    a(
        "--allow-prometheus-address",
        action="append",
        help="allow policies' serverAddress matching scheme://host[:port|:*][/path] "
        "(repeatable; e.g. http://127.0.0.1:* for local development)",
    )
    a(
        "--prometheus-max-response-bytes",
        type=int,
        help="refuse Prometheus answers larger than this (default 1048576)",
    )


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true or false")


_ENV = {
    "member_kubeconfig": "NIMBUSGUARD_MEMBER_KUBECONFIG",
    "bind_address": "NIMBUSGUARD_BIND_ADDRESS",
    "metrics_bind_address": "NIMBUSGUARD_METRICS_BIND_ADDRESS",
    "leader_elect": "NIMBUSGUARD_LEADER_ELECT",
    "log_level": "NIMBUSGUARD_LOG_LEVEL",
    "log_format": "NIMBUSGUARD_LOG_FORMAT",
    "operator_namespace": "NIMBUSGUARD_OPERATOR_NAMESPACE",
    "metric_endpoints": "NIMBUSGUARD_METRIC_ENDPOINTS",
    "metric_credentials": "NIMBUSGUARD_METRIC_CREDENTIALS",
}


def from_arguments(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from parsed flags, falling back to environment variables, then defaults."""
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = flag
        elif name in _ENV and environ.get(_ENV[name]):
            raw = environ[_ENV[name]]
            values[name] = raw.lower() in ("1", "true", "yes") if name == "leader_elect" else raw
    if "namespaces" not in values and environ.get("WATCH_NAMESPACE"):
        values["namespaces"] = [n for n in environ["WATCH_NAMESPACE"].split(",") if n.strip()]
    try:
        return Settings.model_validate(values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise SettingsError(
            f"invalid setting {where.replace('_', '-')}: {first['msg']}"
            + (f" (got {first['input']!r})" if "input" in first and first["loc"] else "")
        ) from exc


def parse(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from a command line (used by tests and by `nimbusguard run`)."""
    parser = argparse.ArgumentParser(prog="nimbusguard run")
    add_arguments(parser)
    return from_arguments(parser.parse_args(list(argv)), environ)

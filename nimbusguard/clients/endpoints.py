"""Admin-approved Prometheus endpoints: which metric servers policies may query, and how.

A ScalingPolicy never makes the operator talk to a server the installer did not approve:

- `spec.metrics.prometheus.endpoint: <name>` uses a named endpoint of the operator's list
  (URL, authentication, TLS, connection limit, optionally the hub namespaces that may use it);
- `spec.metrics.prometheus.serverAddress: <url>` is accepted only when an *allowed address*
  of the list matches it (the demo and the e2e tests allow `http://127.0.0.1:*`); such
  addresses carry no credentials.

The list is a YAML file (`--metric-endpoints`, mounted from the ConfigMap
`nimbusguard-metric-endpoints`); secrets are files in a directory (`--metric-credentials`,
mounted from the Secret of the same name, so the operator needs no Secret permission). The
vocabulary follows KEDA's TriggerAuthentication for the Prometheus scaler: `bearer`, `basic`,
`tls` (client certificate) and `custom` (a header), plus a custom CA and `unsafeSsl`
(`insecureSkipVerify`)::

    endpoints:
    - name: main
      url: https://prometheus.monitoring.svc:9090
      namespaces: [team-a, team-b]     # absent: every namespace may use it
      auth:
        bearer: {tokenFile: main-token}              # or basic: {usernameFile, passwordFile}
                                                     # or custom: {header, valueFile}
      tls: {caFile: main-ca.crt, certFile: main.crt, keyFile: main.key, serverName: prom}
      headers: {X-Scope-OrgID: team-a}               # static, non-secret
      maxConnections: 4
    allowedServerAddresses:
    - http://127.0.0.1:*

Both files are re-read when they change (the kubelet updates mounted volumes in place); an
invalid new version is logged and the previous one kept. Nothing of the configuration —
URLs, file names, credentials — is ever put into a policy's status or Events: tenants see
endpoint names and the address they wrote themselves, nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import re
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import aiohttp
import pydantic
import pydantic.alias_generators
import yaml

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import errors

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 4
# Connections per origin (scheme, host, port) for allowed server addresses, and in total.
ADDRESS_CONNECTIONS_PER_HOST = 4
ADDRESS_CONNECTIONS_TOTAL = 64

_ANY_PORT = re.compile(r"^(https?://[^/:@]+|https?://\[[^]/@]+\]):\*(/.*)?$")


class EndpointError(errors.ClientError):
    """A policy's metric endpoint is not permitted or unknown; a configuration fault."""


# ---------------------------------------------------------------------------------------------
# the configuration file


class _Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        extra="forbid", alias_generator=pydantic.alias_generators.to_camel, populate_by_name=True
    )


class BearerAuth(_Config):
    token_file: str


class BasicAuth(_Config):
    username_file: str
    password_file: str


class CustomAuth(_Config):
    header: str = pydantic.Field(pattern=r"^[A-Za-z0-9-]+$")
    value_file: str


class Auth(_Config):
    bearer: BearerAuth | None = None
    basic: BasicAuth | None = None
    custom: CustomAuth | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> Auth:
        if sum(x is not None for x in (self.bearer, self.basic, self.custom)) > 1:
            raise ValueError("auth takes one of bearer, basic or custom")
        return self


class TLS(_Config):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False

    @pydantic.model_validator(mode="after")
    def _pair(self) -> TLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls needs both certFile and keyFile, or neither")
        return self


class EndpointSpec(_Config):
    name: str = pydantic.Field(min_length=1, max_length=63, pattern=types.DNS_LABEL)
    url: str
    namespaces: list[str] | None = None
    auth: Auth = pydantic.Field(default_factory=Auth)
    tls: TLS = pydantic.Field(default_factory=TLS)
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    max_connections: int = pydantic.Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=64)

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_address(value)
        return value


class EndpointsFile(_Config):
    endpoints: list[EndpointSpec] = pydantic.Field(default_factory=list)
    allowed_server_addresses: list[str] = pydantic.Field(default_factory=list)

    @pydantic.model_validator(mode="after")
    def _unique(self) -> EndpointsFile:
        names = [e.name for e in self.endpoints]
        if len(names) != len(set(names)):
            raise ValueError("endpoint names must be unique")
        for pattern in self.allowed_server_addresses:
            AddressPattern.parse(pattern)
        return self


# ---------------------------------------------------------------------------------------------
# addresses


@dataclasses.dataclass(frozen=True)
class Address:
    """A parsed http(s) base URL: no user info, no query, no fragment."""

    scheme: Literal["http", "https"]
    host: str  # lower-case; IPv6 without brackets
    port: int
    path: str  # without a trailing slash

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.path


def parse_address(url: str) -> Address:
    """An Address, or ValueError saying what is wrong (never echoing credentials)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError("not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("the scheme must be http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("user info (user:password@) is not allowed in the URL")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise ValueError("a query string or fragment is not allowed in the URL")
    host = (parts.hostname or "").lower()
    if not host or any(not (c.isascii() and c.isprintable()) or c.isspace() for c in url):
        raise ValueError("the URL must name a host and contain printable ASCII only")
    scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
    return Address(
        scheme=scheme,
        host=host,
        port=port if port is not None else (443 if scheme == "https" else 80),
        path=parts.path.rstrip("/"),
    )


@dataclasses.dataclass(frozen=True)
class AddressPattern:
    """`scheme://host[:port|:*][/path]`: an allowed server address; `*` matches any port,
    the path matches itself and everything below it."""

    scheme: str
    host: str
    port: int | None  # None: any port
    path: str

    @classmethod
    def parse(cls, pattern: str) -> AddressPattern:
        """The pattern; ValueError when it is not `scheme://host[:port|:*][/path]`."""
        wildcard = _ANY_PORT.match(pattern)
        address = parse_address(wildcard.expand(r"\1\2") if wildcard else pattern)
        return cls(address.scheme, address.host, None if wildcard else address.port, address.path)

    def matches(self, address: Address) -> bool:
        return (
            self.scheme == address.scheme
            and self.host == address.host
            and (self.port is None or self.port == address.port)
            and (address.path == self.path or address.path.startswith(self.path + "/"))
        )


# ---------------------------------------------------------------------------------------------
# resolved endpoints


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """What a Prometheus query needs: where, with which headers, over which session.

    `display` is what messages may show ("Prometheus endpoint 'main'", or the address the
    policy itself gave); `headers` may hold credentials and must never be shown anywhere.
    """

    display: str
    base_url: str
    session: aiohttp.ClientSession
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    server_hostname: str | None = None


@dataclasses.dataclass
class _Named:
    spec: EndpointSpec
    endpoint: Endpoint


def _session(
    limit: int, per_host: int, ssl_context: ssl.SSLContext | bool
) -> aiohttp.ClientSession:
    """A session that keeps no cookies, has its own bounded pool and ignores proxy variables."""
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=per_host, ssl=ssl_context, ttl_dns_cache=30
    )
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


def _read_secret(directory: Path | None, name: str) -> str:
    if directory is None:
        raise ValueError("credentials are configured but no credentials directory is given")
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise ValueError(f"credential file {name!r} is outside the credentials directory")
    return path.read_text().strip()


def _ssl_context(tls: TLS, credentials: Path | None) -> ssl.SSLContext:
    def file(name: str) -> str:
        if credentials is None:
            raise ValueError("tls files are configured but no credentials directory is given")
        path = (credentials / name).resolve()
        if credentials.resolve() not in path.parents:
            raise ValueError(f"tls file {name!r} is outside the credentials directory")
        return str(path)

    context = ssl.create_default_context(cafile=file(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(file(tls.cert_file), file(tls.key_file))
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _headers(spec: EndpointSpec, credentials: Path | None) -> dict[str, str]:
    headers = dict(spec.headers)
    auth = spec.auth
    if auth.bearer is not None:
        headers["Authorization"] = "Bearer " + _read_secret(credentials, auth.bearer.token_file)
    elif auth.basic is not None:
        user = _read_secret(credentials, auth.basic.username_file)
        password = _read_secret(credentials, auth.basic.password_file)
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {pair}"
    elif auth.custom is not None:
        headers[auth.custom.header] = _read_secret(credentials, auth.custom.value_file)
    return headers


@dataclasses.dataclass(frozen=True)
class _Prepared:
    spec: EndpointSpec
    address: Address
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | bool


def _prepare(config: EndpointsFile, credentials: Path | None) -> list[_Prepared]:
    """Headers and TLS contexts of every named endpoint (blocking: reads files)."""
    prepared: list[_Prepared] = []
    for spec in config.endpoints:
        address = parse_address(spec.url)
        context: ssl.SSLContext | bool = (
            _ssl_context(spec.tls, credentials) if address.scheme == "https" else False
        )
        prepared.append(_Prepared(spec, address, _headers(spec, credentials), context))
    return prepared


def _sessions(prepared: list[_Prepared]) -> dict[str, _Named]:
    """One session per named endpoint (on the event loop, which sessions belong to)."""
    return {
        p.spec.name: _Named(
            p.spec,
            Endpoint(
                display=f"Prometheus endpoint {p.spec.name!r}",
                base_url=p.address.base_url,
                session=_session(p.spec.max_connections, p.spec.max_connections, p.ssl_context),
                headers=p.headers,
                server_hostname=p.spec.tls.server_name,
            ),
        )
        for p in prepared
    }


def _load(path: Path) -> EndpointsFile:
    data = yaml.safe_load(path.read_text()) or {}
    return EndpointsFile.model_validate(data)


class Registry:
    """The operator's approved endpoints; `resolve` turns a policy's reference into one."""

    def __init__(
        self,
        *,
        config_file: Path | None,
        credentials_dir: Path | None,
        allowed_addresses: Sequence[str] = (),
    ) -> None:
        self.config_file = config_file
        self.credentials_dir = credentials_dir
        self._flag_patterns = [AddressPattern.parse(p) for p in allowed_addresses]
        self._patterns: list[AddressPattern] = list(self._flag_patterns)
        self._named: dict[str, _Named] = {}
        self._stamp: tuple[float | None, ...] | None = None
        self._lock = asyncio.Lock()
        self._address_session: aiohttp.ClientSession | None = None
        # Sessions of replaced configurations: in-flight queries may still use them.
        self._retired: list[aiohttp.ClientSession] = []

    # -- configuration ---------------------------------------------------------------------

    def _files_stamp(self) -> tuple[float | None, ...]:
        paths: list[Path] = []
        if self.config_file is not None:
            paths.append(self.config_file)
        if self.credentials_dir is not None and self.credentials_dir.is_dir():
            paths.extend(sorted(self.credentials_dir.iterdir()))
        stamps: list[float | None] = []
        for path in paths:
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    async def refresh(self) -> None:
        """Re-read the configuration when a file changed; keep the old one if the new fails."""
        async with self._lock:
            stamp = await asyncio.to_thread(self._files_stamp)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            if self.config_file is None or not self.config_file.exists():
                config = EndpointsFile()
            else:
                try:
                    config = await asyncio.to_thread(_load, self.config_file)
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    logger.error(
                        "metric endpoints %s are invalid, keeping the previous ones: %s",
                        self.config_file,
                        _first_line(exc),
                    )
                    return
            try:
                prepared = await asyncio.to_thread(_prepare, config, self.credentials_dir)
            except (OSError, ValueError, ssl.SSLError) as exc:
                logger.error(
                    "metric endpoint credentials are unusable, keeping the previous ones: %s",
                    _first_line(exc),
                )
                self._invalid = True
                return
            old, self._named = self._named, _sessions(prepared)
            self._patterns = [
                *self._flag_patterns,
                *(AddressPattern.parse(p) for p in config.allowed_server_addresses),
            ]
            logger.info(
                "metric endpoints: %d named, %d allowed address patterns",
                len(self._named),
                len(self._patterns),
            )
            self._retired.extend(previous.endpoint.session for previous in old.values())

    # -- resolution ------------------------------------------------------------------------

    async def resolve(
        self, namespace: str, endpoint: str | None, server_address: str | None
    ) -> Endpoint:
        """The endpoint a policy in `namespace` names; EndpointError when not permitted."""
        await self.refresh()
        if endpoint is not None:
            named = self._named.get(endpoint)
            allowed = named is not None and (
                named.spec.namespaces is None or namespace in named.spec.namespaces
            )
            if named is None or not allowed:
                # The same answer whether it does not exist or is someone else's: tenants
                # learn nothing about other tenants' endpoints.
                raise EndpointError(
                    f"spec.metrics.prometheus.endpoint: {endpoint!r} is not a metric endpoint "
                    f"that namespace {namespace!r} may use; ask the operator's installer to "
                    "add it to nimbusguard-metric-endpoints",
                    reason="EndpointNotPermitted",
                )
            return named.endpoint
        if server_address is None:
            raise EndpointError(
                "spec.metrics.prometheus: name an endpoint or give a serverAddress",
                reason="EndpointNotPermitted",
            )
        try:
            address = parse_address(server_address)
        except ValueError as exc:
            raise EndpointError(
                f"spec.metrics.prometheus.serverAddress: {exc}", reason="EndpointNotPermitted"
            ) from exc
        if not any(p.matches(address) for p in self._patterns):
            raise EndpointError(
                f"spec.metrics.prometheus.serverAddress: {address.origin} is not an allowed "
                "Prometheus address of this operator; use a named endpoint "
                "(spec.metrics.prometheus.endpoint) or ask the installer to allow it",
                reason="EndpointNotPermitted",
            )
        if self._address_session is None:
            self._address_session = _session(
                ADDRESS_CONNECTIONS_TOTAL, ADDRESS_CONNECTIONS_PER_HOST, True
            )
        return Endpoint(
            display=f"Prometheus at {address.origin}",
            base_url=address.base_url,
            session=self._address_session,
        )

    async def close(self) -> None:
        sessions = [*self._retired, *(n.endpoint.session for n in self._named.values())]
        if self._address_session is not None:
            sessions.append(self._address_session)
        self._named, self._address_session, self._retired = {}, None, []
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()


def _first_line(exc: BaseException) -> str:
    """For the operator's own log: the error, bounded (file names, never file contents)."""
    return " ".join(str(exc).split())[:1000] or type(exc).__name__

"""/metrics behind authentication and authorization, over TLS (kubebuilder's default).

An aiohttp middleware, independent of the handler that renders the metrics: a request needs
`Authorization: Bearer <token>`; the token is reviewed by the hub API server (TokenReview)
and its user must be allowed `get` on the URL path (SubjectAccessReview), as RBAC's
`nonResourceURLs: ["/metrics"]` grants it (config/rbac/metrics_reader_role.yaml). Answers:
401 without or with an unknown token, 403 when RBAC says no, 503 when the hub cannot be
asked. Decisions are cached briefly by a hash of the token (allowed 60 s, refused 10 s, at
most 512 entries), and at most 4 reviews run at once, so a scraper costs the API server one
review a minute and a flood of made-up tokens cannot queue more.

The TLS certificate comes from a directory (`tls.crt`, `tls.key`; e.g. a cert-manager Secret),
re-read when it changes; without one a self-signed certificate is made at start-up (scrapers
then skip verification, as kubebuilder's ServiceMonitor does by default).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import hashlib
import ipaddress
import logging
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from nimbusguard.clients import errors, reviews

logger = logging.getLogger(__name__)

ALLOW_SECONDS = 60.0
DENY_SECONDS = 10.0
CACHE_ENTRIES = 512
CONCURRENT_REVIEWS = 4

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Reviewer:
    """Token → allowed?, asked of the API server and cached for a short while."""

    def __init__(self, api: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.clock = clock
        self._cache: collections.OrderedDict[str, tuple[float, bool | None]] = (
            collections.OrderedDict()
        )
        self._reviews = asyncio.Semaphore(CONCURRENT_REVIEWS)

    async def decide(self, token: str, path: str, verb: str) -> bool | None:
        """True: allowed; False: authenticated but refused; None: not authenticated.
        Raises errors.ClientError when the API server cannot be asked."""
        key = hashlib.sha256(f"{verb} {path} {token}".encode()).hexdigest()
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._reviews:
            user = await reviews.authenticate(self.api, token)
            allowed = None if user is None else await reviews.may(self.api, user, path, verb)
        ttl = ALLOW_SECONDS if allowed else DENY_SECONDS
        self._cache[key] = (now + ttl, allowed)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return allowed


def middleware(reviewer: Reviewer) -> Any:
    """The aiohttp middleware that lets only allowed callers through."""

    @web.middleware
    async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _refuse(401, "a bearer token is required")
        verb = "get" if request.method in ("GET", "HEAD") else request.method.lower()
        try:
            allowed = await reviewer.decide(token, request.path, verb)
        except errors.ClientError as exc:
            logger.warning("cannot review a /metrics caller: %s", exc)
            return _refuse(503, "cannot verify the caller now")
        if allowed is None:
            return _refuse(401, "the token is not valid")
        if not allowed:
            return _refuse(403, f"the caller may not {verb} {request.path}")
        return await handler(request)

    return authorize


def _refuse(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="nimbusguard"'} if status == 401 else {}
    return web.Response(status=status, text=message + "\n", headers=headers)


# ---------------------------------------------------------------------------------------------
# TLS


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the metrics server (a year, P-256), in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nimbusguard-operator-metrics")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextlib.asynccontextmanager
async def tls_context(cert_dir: Path | None) -> AsyncIterator[ssl.SSLContext]:
    """A server TLS context (TLS ≥ 1.2) for the life of the block; the certificate of
    `cert_dir` is reloaded when its files change, a self-signed one is made without it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_dir is None:
        with tempfile.TemporaryDirectory(prefix="nimbusguard-metrics-") as tmp:
            cert_file, key_file = await asyncio.to_thread(_self_signed, Path(tmp))
            context.load_cert_chain(cert_file, key_file)
            logger.info("serving /metrics with a self-signed certificate")
            yield context
        return
    cert_file, key_file = cert_dir / "tls.crt", cert_dir / "tls.key"
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise errors.ConfigError(
            f"cannot load the metrics certificate from {cert_dir}: {exc}"
        ) from exc

    async def reload() -> None:
        stamp = (cert_file.stat().st_mtime, key_file.stat().st_mtime)
        while True:
            await asyncio.sleep(30.0)
            with contextlib.suppress(OSError):
                now = (cert_file.stat().st_mtime, key_file.stat().st_mtime)
                if now != stamp:
                    try:
                        context.load_cert_chain(cert_file, key_file)
                        stamp = now
                        logger.info("reloaded the metrics certificate from %s", cert_dir)
                    except ssl.SSLError as exc:
                        logger.warning("the new metrics certificate is unusable: %s", exc)

    watcher = asyncio.create_task(reload(), name="metrics-cert")
    try:
        yield context
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

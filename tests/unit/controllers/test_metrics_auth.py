"""/metrics needs a token RBAC allows to get it, over TLS; the probes stay open on their port."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from controllers import health, metrics_auth, observability
from nimbusguard.clients import errors, reviews

USERS = {"scraper-token": "system:serviceaccount:monitoring:prometheus", "nosy-token": "nosy"}
ALLOWED = {"system:serviceaccount:monitoring:prometheus"}


class FakeApiServer:
    def __init__(self) -> None:
        self.reviews = 0
        self.down = False

    async def authenticate(self, api: Any, token: str) -> reviews.User | None:
        self.reviews += 1
        if self.down:
            raise errors.ClusterUnreachableError("hub down")
        name = USERS.get(token)
        return None if name is None else reviews.User(name, "uid", ("g",), {})

    async def may(self, api: Any, user: reviews.User, path: str, verb: str) -> bool:
        assert (path, verb) == ("/metrics", "get")
        return user.name in ALLOWED


@pytest.fixture
def apiserver(monkeypatch: pytest.MonkeyPatch) -> FakeApiServer:
    fake = FakeApiServer()
    monkeypatch.setattr(reviews, "authenticate", fake.authenticate)
    monkeypatch.setattr(reviews, "may", fake.may)
    return fake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(apiserver: FakeApiServer) -> AsyncIterator[tuple[str, str]]:
    probes, metrics_port = _free_port(), _free_port()
    async with metrics_auth.tls_context(None) as context:
        endpoint = health.MetricsEndpoint(
            "127.0.0.1",
            metrics_port,
            ssl_context=context,
            middlewares=(metrics_auth.middleware(metrics_auth.Reviewer(None)),),
        )
        readiness = health.Readiness()
        async with health.serving(
            "127.0.0.1", probes, readiness, observability.Metrics(), endpoint
        ):
            yield f"http://127.0.0.1:{probes}", f"https://127.0.0.1:{metrics_port}"


async def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed, as kubebuilder's ServiceMonitor skips
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers, ssl=context) as resp,
    ):
        return resp.status, await resp.text()


async def test_metrics_need_an_allowed_token(
    served: tuple[str, str], apiserver: FakeApiServer
) -> None:
    _, metrics = served
    assert (await _get(metrics + "/metrics"))[0] == 401
    assert (await _get(metrics + "/metrics", "made-up"))[0] == 401
    assert (await _get(metrics + "/metrics", "nosy-token"))[0] == 403
    status, body = await _get(metrics + "/metrics", "scraper-token")
    assert status == 200 and "nimbusguard_policies_total" in body
    # Cached: a second scrape does not review again.
    before = apiserver.reviews
    assert (await _get(metrics + "/metrics", "scraper-token"))[0] == 200
    assert apiserver.reviews == before


async def test_the_hub_being_unreachable_is_503_not_open(
    served: tuple[str, str], apiserver: FakeApiServer
) -> None:
    _, metrics = served
    apiserver.down = True
    assert (await _get(metrics + "/metrics", "scraper-token"))[0] == 503


async def test_plain_http_is_refused_on_the_metrics_port(served: tuple[str, str]) -> None:
    _, metrics = served
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.get(metrics.replace("https", "http") + "/metrics")


async def test_probes_are_open_and_metrics_are_not_on_their_port(
    served: tuple[str, str],
) -> None:
    probes, _ = served
    async with aiohttp.ClientSession() as session:
        async with session.get(probes + "/healthz") as resp:
            assert resp.status == 200
        async with session.get(probes + "/readyz") as resp:
            assert resp.status == 503  # the hub has not answered: not ready, but reachable
        async with session.get(probes + "/metrics") as resp:
            assert resp.status == 404


async def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    async def nobody(api: Any, token: str) -> None:
        return None

    monkeypatch.setattr(reviews, "authenticate", nobody)
    reviewer = metrics_auth.Reviewer(None)
    for i in range(metrics_auth.CACHE_ENTRIES + 50):
        assert await reviewer.decide(f"t{i}", "/metrics", "get") is None
    assert len(reviewer._cache) == metrics_auth.CACHE_ENTRIES

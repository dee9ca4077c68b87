"""The API clients read proxy variables and ~/.netrc per request only when there are some."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes.aio import client as k8s, config as k8s_config

from nimbusguard.clients import kube


def test_without_proxies_or_netrc_the_session_does_not_look(tmp_path: Path) -> None:
    configuration = k8s.Configuration()
    configuration.client_session_kwargs = {"read_bufsize": 2**16}

    assert kube.skip_env_lookups(configuration, {"HOME": "/h"}, tmp_path / "no-netrc")

    assert configuration.client_session_kwargs == {"read_bufsize": 2**16, "trust_env": False}


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "NO_PROXY", "NETRC"])
def test_a_proxy_variable_keeps_the_lookups(tmp_path: Path, name: str) -> None:
    configuration = k8s.Configuration()

    assert not kube.skip_env_lookups(configuration, {name: "x"}, tmp_path / "no-netrc")

    assert configuration.client_session_kwargs is None


def test_a_netrc_keeps_the_lookups(tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine hub login a password b\n")
    configuration = k8s.Configuration()

    assert not kube.skip_env_lookups(configuration, {}, netrc)

    assert configuration.client_session_kwargs is None


async def test_the_clients_session_is_opened_without_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "9")
    monkeypatch.setattr(k8s_config, "load_incluster_config", lambda client_configuration: None)

    api = await kube.new_hub_client(kube.HubConfig())
    try:
        session = api.rest_client._create_pool_manager()
        assert session.trust_env is False
        await session.close()
    finally:
        await api.close()  # type: ignore[no-untyped-call]

"""Admin-approved metric endpoints: what policies may query, with which credentials."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import yaml

from nimbusguard.clients import endpoints


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://prom:9090", "scheme"),
        ("http://user:pass@prom:9090", "user info"),
        ("http://prom@evil:9090", "user info"),
        ("http://prom:9090/x?y=", "query string"),
        ("http://prom:9090/#frag", "query string"),
        ("http://prom:9090?", "query string"),
        ("http://", "host"),
        ("http://prom:9090/ä", "printable ASCII"),
        ("http://prom :9090", "printable ASCII"),
        ("http://prom:99999", "not a valid URL"),
    ],
)
def test_addresses_that_are_never_allowed(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        endpoints.parse_address(url)


def test_an_address_is_normalized() -> None:
    address = endpoints.parse_address("HTTPS://Prom.Example:8443/thanos/")
    assert address.base_url == "https://prom.example:8443/thanos"
    assert endpoints.parse_address("http://[::1]/").origin == "http://[::1]:80"


@pytest.mark.parametrize(
    ("pattern", "url", "allowed"),
    [
        ("http://127.0.0.1:*", "http://127.0.0.1:9090", True),
        ("http://127.0.0.1:*", "http://127.0.0.1:1/prefix", True),
        ("http://127.0.0.1:*", "https://127.0.0.1:9090", False),
        ("http://127.0.0.1:*", "http://127.0.0.1.evil.com:9090", False),
        ("http://127.0.0.1:*", "http://2130706433:9090", False),
        ("http://127.0.0.1:*", "http://localhost:9090", False),
        ("http://[::1]:*", "http://[::1]:9090", True),
        ("http://prom.monitoring:9090", "http://prom.monitoring:9090", True),
        ("http://prom.monitoring:9090", "http://prom.monitoring:9091", False),
        ("http://prom.monitoring:9090", "http://PROM.monitoring:9090/", True),
        ("http://prom:9090/tenant-a", "http://prom:9090/tenant-a/x", True),
        ("http://prom:9090/tenant-a", "http://prom:9090/tenant-ab", False),
        ("http://prom:9090/tenant-a", "http://prom:9090/", False),
    ],
)
def test_allowed_address_patterns(pattern: str, url: str, allowed: bool) -> None:
    parsed = endpoints.AddressPattern.parse(pattern)
    assert parsed.matches(endpoints.parse_address(url)) is allowed


async def test_without_configuration_no_address_is_allowed() -> None:
    registry = endpoints.Registry(config_file=None, credentials_dir=None)
    with pytest.raises(endpoints.EndpointError) as info:
        await registry.resolve("dev", None, "http://10.0.0.1:9090")
    assert info.value.reason == "EndpointNotPermitted"
    assert str(info.value).startswith("spec.metrics.prometheus.serverAddress: ")
    with pytest.raises(endpoints.EndpointError, match=r"prometheus\.endpoint: 'main'"):
        await registry.resolve("dev", "main", None)
    await registry.close()


def _write(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "token").write_text("s3cr3t-token\n")
    (directory / "user").write_text("scraper")
    (directory / "password").write_text("hunter2")
    (directory / "key").write_text("k-123")
    return directory


async def test_named_endpoints_carry_their_credentials(tmp_path: Path, creds: Path) -> None:
    config = tmp_path / "endpoints.yaml"
    _write(
        config,
        {
            "endpoints": [
                {"name": "bearer", "url": "http://a:1", "auth": {"bearer": {"tokenFile": "token"}}},
                {
                    "name": "basic",
                    "url": "http://b:2/base/",
                    "auth": {"basic": {"usernameFile": "user", "passwordFile": "password"}},
                    "headers": {"X-Scope-OrgID": "team-a"},
                },
                {
                    "name": "custom",
                    "url": "http://c:3",
                    "auth": {"custom": {"header": "X-Api-Key", "valueFile": "key"}},
                    "namespaces": ["team-a"],
                },
            ]
        },
    )
    registry = endpoints.Registry(config_file=config, credentials_dir=creds)
    try:
        bearer = await registry.resolve("dev", "bearer", None)
        assert bearer.headers == {"Authorization": "Bearer s3cr3t-token"}
        assert bearer.display == "Prometheus endpoint 'bearer'"
        assert "s3cr3t" not in repr(bearer)
        basic = await registry.resolve("dev", "basic", None)
        assert basic.base_url == "http://b:2/base"
        expected = base64.b64encode(b"scraper:hunter2").decode()
        assert basic.headers == {"Authorization": f"Basic {expected}", "X-Scope-OrgID": "team-a"}
        assert (await registry.resolve("team-a", "custom", None)).headers == {"X-Api-Key": "k-123"}
        with pytest.raises(endpoints.EndpointError) as info:
            await registry.resolve("dev", "custom", None)
        # Someone else's endpoint looks exactly like one that does not exist.
        assert "may use" in str(info.value) and "c:3" not in str(info.value)
        # A serverAddress equal to a named endpoint's URL is still not allowed.
        with pytest.raises(endpoints.EndpointError):
            await registry.resolve("dev", None, "http://a:1")
    finally:
        await registry.close()


async def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_last(
    tmp_path: Path, creds: Path
) -> None:
    config = tmp_path / "endpoints.yaml"
    _write(config, {"allowedServerAddresses": ["http://127.0.0.1:*"]})
    registry = endpoints.Registry(config_file=config, credentials_dir=creds)
    try:
        await registry.resolve("dev", None, "http://127.0.0.1:9090")
        _write(config, {"endpoints": [{"name": "x", "url": "http://x:1"}]})
        later = time.time() + 5
        os.utime(config, (later, later))
        await registry.resolve("dev", "x", None)
        with pytest.raises(endpoints.EndpointError):
            await registry.resolve("dev", None, "http://127.0.0.1:9090")
        config.write_text("endpoints: [{name: y, url: 'ftp://nope'}]")
        os.utime(config, (later + 5, later + 5))
        assert (await registry.resolve("dev", "x", None)).base_url == "http://x:1"
    finally:
        await registry.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"endpoints": [{"name": "a", "url": "http://a:1"}, {"name": "a", "url": "http://b:1"}]},
        {"endpoints": [{"name": "a", "url": "http://a:1", "unknownField": 1}]},
        {"endpoints": [{"name": "a", "url": "http://a:1", "tls": {"certFile": "c"}}]},
        {"allowedServerAddresses": ["http://u:p@h:*"]},
        {
            "endpoints": [
                {
                    "name": "a",
                    "url": "http://a:1",
                    "auth": {
                        "bearer": {"tokenFile": "t"},
                        "custom": {"header": "X", "valueFile": "v"},
                    },
                }
            ]
        },
    ],
)
def test_invalid_configurations_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        endpoints.EndpointsFile.model_validate(bad)


async def test_credential_files_must_stay_in_their_directory(tmp_path: Path, creds: Path) -> None:
    config = tmp_path / "endpoints.yaml"
    (tmp_path / "outside").write_text("x")
    _write(
        config,
        {
            "endpoints": [
                {"name": "a", "url": "http://a:1", "auth": {"bearer": {"tokenFile": "../outside"}}}
            ]
        },
    )
    registry = endpoints.Registry(config_file=config, credentials_dir=creds)
    try:
        with pytest.raises(endpoints.EndpointError):
            await registry.resolve("dev", "a", None)
    finally:
        await registry.close()

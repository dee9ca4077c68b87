"""Operator settings: flags beat environment variables; bad values stop start-up clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers import settings


def test_defaults_are_safe_for_a_laptop() -> None:
    cfg = settings.parse([], environ={})
    assert cfg.bind_address == "127.0.0.1:8080"
    assert cfg.leader_elect is False
    assert cfg.namespaces == ()


def test_environment_then_flags() -> None:
    env = {
        "NIMBUSGUARD_LOG_LEVEL": "debug",
        "NIMBUSGUARD_LEADER_ELECT": "true",
        "WATCH_NAMESPACE": "a,b",
        "NIMBUSGUARD_MEMBER_KUBECONFIG": "/etc/members/kubeconfig",
    }
    cfg = settings.parse([], environ=env)
    assert (cfg.log_level, cfg.leader_elect, cfg.namespaces) == ("DEBUG", True, ("a", "b"))
    assert cfg.member_kubeconfig == Path("/etc/members/kubeconfig")
    cfg = settings.parse(["--log-level", "warning", "--namespace", "c"], environ=env)
    assert (cfg.log_level, cfg.namespaces) == ("WARNING", ("c",))


def test_all_interfaces() -> None:
    assert settings.parse(["--bind-address", ":8080"], environ={}).host_port == ("0.0.0.0", 8080)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-level", "verbose"], "invalid setting log-level"),
        (["--log-format", "xml"], "invalid setting log-format"),
        (["--bind-address", "8080"], "invalid setting bind-address"),
        (["--bind-address", "host:99999"], "invalid setting bind-address"),
        (["--lease-duration", "5", "--renew-deadline", "10"], "renew-deadline < lease-duration"),
    ],
)
def test_bad_values_name_the_setting(argv: list[str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.parse(argv, environ={})


def test_bad_environment_value_is_reported_too() -> None:
    with pytest.raises(settings.SettingsError, match="log-level"):
        settings.parse([], environ={"NIMBUSGUARD_LOG_LEVEL": "LOUD"})

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
        (["--status-refresh-seconds", "1"], "invalid setting status-refresh-seconds"),
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


def test_every_setting_has_an_environment_variable() -> None:
    # A Subscription can set env, not args: each field must be reachable without a flag.
    values = {
        "kubeconfig": "/k",
        "context": "hub",
        "member_kubeconfig": "/m",
        "namespaces": "a,b",
        "bind_address": ":9090",
        "leader_elect": "true",
        "shards": "6",
        "max_concurrent_evaluations": "8",
        "target_reads": "get",
        "status_refresh_seconds": "15",
        "lease_name": "l",
        "lease_namespace": "ops",
        "lease_duration": "30",
        "renew_deadline": "20",
        "retry_period": "3",
        "identity": "pod-1",
        "log_level": "warning",
        "log_format": "text",
        "metrics_bind_address": ":8443",
        "metrics_secure": "false",
        "metrics_cert_dir": "/certs",
        "operator_namespace": "nimbusguard-system",
        "metric_endpoints": "/e/endpoints.yaml",
        "metric_credentials": "/e/credentials",
        "allow_prometheus_address": "http://127.0.0.1:*,https://prom:9090",
        "prometheus_max_response_bytes": "2048",
    }
    fields = set(settings.Settings.model_fields)
    # A new setting needs a sample value here; this keeps the test honest as the model grows.
    missing = fields - set(values)
    assert not missing, f"add a sample environment value for {sorted(missing)}"
    environ = {settings.env_var(name): values[name] for name in fields}
    cfg = settings.parse([], environ=environ)
    defaults = settings.parse([], environ={})
    for name in fields:
        assert getattr(cfg, name) != getattr(defaults, name), name


def test_help_shows_every_flag_with_its_variable_and_default() -> None:
    text = settings.parser().format_help()
    for name in settings.Settings.model_fields:
        assert settings.flag(name) in text
        assert settings.env_var(name) in text
    squashed = " ".join(text.split())
    assert "default: 127.0.0.1:8080" in squashed
    assert "default: 15.0" in squashed
    assert "default: false" in squashed


def test_bool_flag_has_a_negative_form_that_beats_the_environment() -> None:
    env = {"NIMBUSGUARD_LEADER_ELECT": "true"}
    assert settings.parse(["--no-leader-elect"], environ=env).leader_elect is False


def test_a_bad_boolean_is_refused_not_read_as_false() -> None:
    with pytest.raises(settings.SettingsError, match="NIMBUSGUARD_LEADER_ELECT"):
        settings.parse([], environ={"NIMBUSGUARD_LEADER_ELECT": "maybe"})


def test_empty_watch_namespace_means_all_namespaces() -> None:
    # OLM's AllNamespaces install sets WATCH_NAMESPACE to "".
    assert settings.parse([], environ={"WATCH_NAMESPACE": ""}).namespaces == ()


def test_unrelated_prefixed_variables_are_ignored() -> None:
    cfg = settings.parse([], environ={"NIMBUSGUARD_E2E_KUBECONFIG": "/k"})
    assert cfg.kubeconfig is None


def test_the_settings_page_lists_every_setting() -> None:
    from hack.gen import settings_reference

    page = settings_reference.render()
    for name in settings.Settings.model_fields:
        assert f"`{settings.flag(name)}` | `{settings.env_var(name)}`" in page


def test_metrics_are_off_by_default_and_secure_when_on() -> None:
    assert settings.parse([], environ={}).metrics_host_port is None
    cfg = settings.parse(["--metrics-bind-address", ":8443"], environ={})
    assert cfg.metrics_host_port == ("0.0.0.0", 8443) and cfg.metrics_secure is True
    assert settings.parse(["--no-metrics-secure"], environ={}).metrics_secure is False


def test_allowed_prometheus_addresses_are_patterns() -> None:
    cfg = settings.parse(
        ["--allow-prometheus-address", "http://127.0.0.1:*", "--allow-prometheus-address",
         "https://prom:9090/x"],
        environ={},
    )  # fmt: skip
    assert cfg.allow_prometheus_address == ("http://127.0.0.1:*", "https://prom:9090/x")
    with pytest.raises(settings.SettingsError, match=r"allow-prometheus-address.*not a valid URL"):
        settings.parse(["--allow-prometheus-address", "http://u:p@h:*"], environ={})

"""The manager's flags and environment in every install are settings the operator accepts, and
an overlay with a bad value is refused at start-up with one line naming it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from controllers import settings
from hack.gen import kustomize
from tests.unit.packaging.conftest import CONFIG, Render

INSTALLS = [CONFIG / "default", CONFIG / "overlays" / "dev", CONFIG / "overlays" / "prod"]


def _settings_of(objects: list[dict[str, Any]]) -> settings.Settings:
    (deployment,) = kustomize.manager_deployments(objects)
    container = kustomize.manager_container(deployment)
    environ = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return settings.parse(container.get("args", []), environ=environ)


@pytest.mark.parametrize("directory", INSTALLS, ids=lambda p: p.relative_to(CONFIG).as_posix())
def test_every_install_starts_with_valid_settings(render: Render, directory: Path) -> None:
    cfg = _settings_of(render(directory))
    assert cfg.host_port == ("0.0.0.0", 8081)
    assert cfg.metrics_host_port == ("0.0.0.0", 8443)
    assert cfg.metrics_secure is True
    assert cfg.metric_endpoints == Path("/etc/nimbusguard/endpoints/endpoints.yaml")
    assert cfg.leader_elect is True
    assert cfg.member_kubeconfig == Path("/etc/nimbusguard/members/kubeconfig")
    assert cfg.namespaces == ()  # all namespaces


def test_dev_logs_debug_and_prod_info(render: Render) -> None:
    assert _settings_of(render(CONFIG / "overlays" / "dev")).log_level == "DEBUG"
    assert _settings_of(render(CONFIG / "overlays" / "prod")).log_level == "INFO"


def test_an_overlay_with_a_bad_log_level_is_refused_with_one_line(
    render: Render, tmp_path: Path
) -> None:
    # kustomize refuses absolute bases; a relative one may leave the overlay's directory.
    base = os.path.relpath(CONFIG / "default", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n- {base}\npatches:\n- path: patch.yaml\n"
    )
    (tmp_path / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        "  name: nimbusguard-controller-manager\n  namespace: nimbusguard-system\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: manager\n"
        "        env:\n        - name: NIMBUSGUARD_LOG_LEVEL\n          value: LOUD\n"
    )
    with pytest.raises(settings.SettingsError) as caught:
        _settings_of(render(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "log-level" in message
    assert "LOUD" in message

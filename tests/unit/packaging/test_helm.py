"""The Helm chart is generated from config/, lints, renders what kustomize renders, and its
values reach the objects (the helm CLI is built from the Go module proxy: `make helm`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controllers import settings
from hack.gen import helm, kustomize
from tests.unit.packaging.conftest import ROOT, go_tool

CHART = ROOT / helm.CHART_DIR
KUBE_VERSION = "1.33.0"
Obj = dict[str, Any]


def _helm() -> str:
    return go_tool("helm")


def _template(*sets: str, namespace: str = "nimbusguard-system") -> list[Obj]:
    argv = [_helm(), "template", "nimbusguard", str(CHART), "--kube-version", KUBE_VERSION]
    argv += ["-n", namespace]
    for item in sets:
        argv += ["--set", item]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _normal(obj: Obj) -> str:
    """The object without what only says who installed it."""
    meta = obj["metadata"]
    meta.get("labels", {}).pop("app.kubernetes.io/managed-by", None)
    meta.get("annotations", {}).pop("helm.sh/resource-policy", None)
    if meta.get("annotations") == {}:
        del meta["annotations"]
    return json.dumps(obj, sort_keys=True)


def _manager(objects: list[Obj]) -> Obj:
    (deployment,) = kustomize.manager_deployments(objects)
    return kustomize.manager_container(deployment)


def _settings(objects: list[Obj]) -> settings.Settings:
    container = _manager(objects)
    environ = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return settings.parse(container.get("args", []), environ=environ)


def test_the_committed_chart_is_what_config_generates() -> None:
    files = helm.render(ROOT)
    stale = [str(p) for p, text in files.items() if (ROOT / p).read_text() != text]
    assert stale == [], "run `make helm-chart`"
    on_disk = {p.relative_to(ROOT) for p in CHART.rglob("*") if p.is_file()}
    assert on_disk == set(files)


def test_helm_lint_is_clean_with_every_part_on() -> None:
    done = subprocess.run(
        [_helm(), "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), "--set",
         "serviceMonitor.enabled=true,prometheusRule.enabled=true,networkPolicy.enabled=true,"
         "namespace.create=true"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_defaults_render_the_objects_kustomize_renders() -> None:
    chart = {_key(o): _normal(o) for o in _template("namespace.create=true")}
    kustomized = {_key(o): _normal(o) for o in kustomize.build(ROOT / "config" / "default")}
    assert set(chart) == set(kustomized)
    for key, text in kustomized.items():
        assert chart[key] == text, key
    # Without namespace.create the release namespace is left to `--create-namespace`.
    assert ("Namespace", "nimbusguard-system") not in {_key(o) for o in _template()}


def test_optional_parts_render_what_config_holds_and_carry_the_release_label() -> None:
    chart = {
        _key(o): o
        for o in _template(
            "serviceMonitor.enabled=true",
            "prometheusRule.enabled=true",
            "networkPolicy.enabled=true",
        )
    }
    for directory in helm.OPTIONAL.values():
        for obj in helm._render_optional(ROOT, directory):
            assert _normal(chart[_key(obj)]) == _normal(obj), _key(obj)
    monitor = chart["ServiceMonitor", "nimbusguard-controller-manager-metrics-monitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rule = chart["PrometheusRule", "nimbusguard-controller-manager-alerts"]
    # Prometheus' own templates survive Helm's: `{{ $value }}` reaches the rule as written.
    assert "{{ $value }}" in json.dumps(rule)
    default_kinds = {k for k, _ in (_key(o) for o in _template())}
    assert not {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} & default_kinds


def test_values_reach_the_objects() -> None:
    objects = _template(
        "replicas=2",
        "image.repository=registry.example.com/ng",
        "image.tag=v9",
        "image.pullPolicy=Always",
        "resources.limits.memory=1Gi",
        "settings.logLevel=DEBUG",
        "settings.leaderElect=false",
        "settings.namespaces={shop,payments}",
        "settings.leaseDuration=30",
        "extraEnv[0].name=HTTPS_PROXY",
        "extraEnv[0].value=http://proxy:3128",
        "nodeSelector.pool=system",
        "serviceMonitor.enabled=true",
        "serviceMonitor.labels.release=prometheus",
        "crds.keep=false",
        namespace="ops",
    )
    (deployment,) = kustomize.manager_deployments(objects)
    container = _manager(objects)
    assert deployment["metadata"]["namespace"] == "ops"
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "registry.example.com/ng:v9"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "system"}
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in container["env"]
    cfg = _settings(objects)
    assert (cfg.log_level, cfg.leader_elect, cfg.namespaces) == (
        "DEBUG",
        False,
        ("shop", "payments"),
    )
    assert cfg.lease_duration == 30
    assert cfg.member_kubeconfig == Path("/etc/nimbusguard/members/kubeconfig")
    by_key = {_key(o): o for o in objects}
    binding = by_key["ClusterRoleBinding", "nimbusguard-manager-rolebinding"]
    assert binding["subjects"][0]["namespace"] == "ops"
    monitor = by_key["ServiceMonitor", "nimbusguard-controller-manager-metrics-monitor"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    crd = by_key["CustomResourceDefinition", "scalingpolicies.nimbusguard.io"]
    assert "helm.sh/resource-policy" not in crd["metadata"]["annotations"]


def test_every_setting_is_a_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["settings"]) == {helm._camel(n) for n in settings.Settings.model_fields}
    # The defaults start the operator as config/default does.
    assert _settings(_template()).leader_elect is True


@pytest.mark.parametrize("leader", ["true", "false"])
def test_a_setting_config_passes_as_a_flag_stays_a_flag(leader: str) -> None:
    args = _manager(_template(f"settings.leaderElect={leader}"))["args"]
    assert ("--leader-elect" if leader == "true" else "--no-leader-elect") in args

"""The OLM bundle is generated from the models and config/, is committed up to date, and says
what OperatorHub and the scorecard expect (operator-sdk validates it in `make bundle-validate`)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import yaml

from api import crd as crd_
from hack.gen import bundle, kustomize, outputs, permissions
from tests.unit.packaging.conftest import CONFIG, ROOT, Render

MANIFESTS = ROOT / "bundle" / "manifests"
CSV_FILE = MANIFESTS / "nimbusguard-operator.clusterserviceversion.yaml"
# operator-framework/api's standard categories (OperatorHub).
CATEGORIES = {
    "AI/Machine Learning", "Application Runtime", "Big Data", "Cloud Provider", "Developer Tools",
    "Database", "Integration & Delivery", "Logging & Tracing", "Monitoring",
    "Modernization & Migration", "Networking", "OpenShift Optional", "Security", "Storage",
    "Streaming & Messaging", "Observability",
}  # fmt: skip


@pytest.fixture(scope="module")
def csv() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CSV_FILE.read_text())
    return loaded


def _paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, prop in node.get("properties", {}).items():
        out.append(prefix + name)
        if prop.get("type") == "object":
            out.extend(_paths(prop, f"{prefix}{name}."))
    return out


def test_the_committed_bundle_is_what_the_generator_writes(render: Render) -> None:
    del render  # needs kubectl, like the generator
    files = outputs.bundle_files(ROOT)
    assert outputs.check(files, ROOT), "bundle/ is stale: run `make bundle`"
    assert outputs.stray_bundle_files(ROOT, files) == []
    path = next(iter(files))
    assert not outputs.check({path: files[path] + "# edited by hand\n"}, ROOT)


def test_the_csv_names_the_version_and_the_image(csv: dict[str, Any]) -> None:
    version = bundle.project_version(ROOT)
    assert csv["metadata"]["name"] == f"nimbusguard-operator.v{version}"
    assert csv["spec"]["version"] == version
    image = csv["metadata"]["annotations"]["containerImage"]
    assert image.endswith(f":v{version}")
    assert {"name": "manager", "image": image} in csv["spec"]["relatedImages"]


def test_the_csv_has_the_operatorhub_metadata(csv: dict[str, Any]) -> None:
    annotations, spec = csv["metadata"]["annotations"], csv["spec"]
    assert annotations["capabilities"] == "Auto Pilot"
    assert "Capability level: Auto Pilot" in spec["description"]
    assert set(annotations["categories"].split(",")) <= CATEGORIES
    assert spec["keywords"] and spec["maintainers"][0]["email"] and spec["provider"]["name"]
    assert all(link["url"].startswith("https://") for link in spec["links"])
    assert spec["minKubeVersion"].count(".") == 2
    assert {m["type"] for m in spec["installModes"] if m["supported"]} >= {"AllNamespaces"}
    (icon,) = spec["icon"]
    assert icon["mediatype"] == "image/svg+xml"
    assert base64.b64decode(icon["base64data"]) == (ROOT / bundle.ICON).read_bytes()


def test_every_spec_and_status_field_has_a_descriptor(csv: dict[str, Any]) -> None:
    (owned,) = csv["spec"]["customresourcedefinitions"]["owned"]
    schema = crd_.openapi_schema()["properties"]
    for part, key in (("spec", "specDescriptors"), ("status", "statusDescriptors")):
        described = {d["path"]: d for d in owned[key]}
        assert set(described) == set(_paths(schema[part])), key
        assert all(d["description"] and d["displayName"] for d in described.values())
    spec = {d["path"]: d for d in owned["specDescriptors"]}
    assert spec["scaling.maxReplicas"]["description"] == "Most replicas the policy will set."
    assert "urn:alm:descriptor:com.tectonic.ui:booleanSwitch" in spec["paused"]["x-descriptors"]
    status = {d["path"]: d for d in owned["statusDescriptors"]}
    assert status["conditions"]["x-descriptors"] == ["urn:alm:descriptor:io.kubernetes.conditions"]
    assert owned["resources"] and owned["description"]


def test_alm_examples_are_the_samples_in_listed_order(csv: dict[str, Any]) -> None:
    examples = json.loads(csv["metadata"]["annotations"]["alm-examples"])
    listed = yaml.safe_load((CONFIG / "samples" / "kustomization.yaml").read_text())["resources"]
    samples = [yaml.safe_load((CONFIG / "samples" / name).read_text()) for name in listed]
    assert examples == samples


def test_permissions_are_the_generated_roles(csv: dict[str, Any]) -> None:
    install = csv["spec"]["install"]
    assert install["strategy"] == "deployment"
    cluster, reviews = install["spec"]["clusterPermissions"]
    (namespaced,) = install["spec"]["permissions"]
    assert cluster["rules"] == [r.policy_rule() for r in permissions.hub_cluster_rules()]
    assert reviews["rules"] == [r.policy_rule() for r in permissions.metrics_auth_rules()]
    assert namespaced["rules"] == [r.policy_rule() for r in permissions.operator_namespace_rules()]
    (deployment,) = install["spec"]["deployments"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert cluster["serviceAccountName"] == namespaced["serviceAccountName"] == account
    assert reviews["serviceAccountName"] == account


def test_the_install_strategy_is_config_default_plus_olm_namespaces(
    csv: dict[str, Any], render: Render
) -> None:
    (rendered,) = kustomize.manager_deployments(render(CONFIG / "default"))
    (deployment,) = csv["spec"]["install"]["spec"]["deployments"]
    assert deployment["name"] == rendered["metadata"]["name"]
    spec = copy.deepcopy(deployment["spec"])
    env = kustomize.manager_container({"spec": spec, "metadata": {"name": "x"}})["env"]
    assert env[-1] == bundle.OLM_TARGET_NAMESPACES_ENV
    env.pop()
    assert spec == rendered["spec"]


def test_the_bundle_holds_the_crd_and_the_extra_objects_without_namespaces(
    render: Render,
) -> None:
    crd_file = MANIFESTS / "nimbusguard.io_scalingpolicies.yaml"
    assert yaml.safe_load(crd_file.read_text()) == crd_.custom_resource_definition()
    kinds: dict[str, list[str]] = {}
    for path in MANIFESTS.glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        kinds.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
        assert "namespace" not in obj["metadata"], path.name
    assert kinds["Service"] == ["nimbusguard-controller-manager-metrics-service"]
    assert set(kinds) == {
        "ClusterServiceVersion",
        "CustomResourceDefinition",
        "Service",
        "ClusterRole",
        "ConfigMap",
    }
    # The tenancy grants (empty); the admission policy cannot be in a registry+v1 bundle.
    assert kinds["ConfigMap"] == ["nimbusguard-tenancy"]
    assert "nimbusguard-manager-role" not in kinds["ClusterRole"]  # it is in the install strategy
    scorecard = yaml.safe_load((ROOT / "bundle/tests/scorecard/config.yaml").read_text())
    assert [scorecard] == render(CONFIG / "scorecard")
    suites = {t["labels"]["suite"] for t in scorecard["stages"][0]["tests"]}
    assert suites == {"basic", "olm"}


def test_metadata_and_bundle_dockerfile_agree_on_the_stable_channel() -> None:
    annotations = yaml.safe_load((ROOT / "bundle/metadata/annotations.yaml").read_text())
    values = annotations["annotations"]
    assert values["operators.operatorframework.io.bundle.channels.v1"] == "stable"
    assert values["operators.operatorframework.io.bundle.channel.default.v1"] == "stable"
    assert values["operators.operatorframework.io.bundle.package.v1"] == "nimbusguard-operator"
    dockerfile = (ROOT / "bundle.Dockerfile").read_text()
    labels = dict(
        line.removeprefix("LABEL ").split("=", 1)
        for line in dockerfile.splitlines()
        if line.startswith("LABEL ")
    )
    assert labels == values
    for source, target in (("manifests", "/manifests/"), ("metadata", "/metadata/")):
        assert f"COPY bundle/{source} {target}" in dockerfile


def test_a_model_change_makes_the_bundle_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    owned = bundle.owned_crd()
    original = {d["path"]: d["description"] for d in owned["specDescriptors"]}
    schema = crd_.openapi_schema()
    schema["properties"]["spec"]["properties"]["paused"]["description"] = "changed"
    monkeypatch.setattr(crd_, "openapi_schema", lambda: schema)
    changed = {d["path"]: d["description"] for d in bundle.owned_crd()["specDescriptors"]}
    assert changed["paused"] == "changed" != original["paused"]

"""Every kustomize entry point builds, and the default install is what the docs promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.gen import kustomize
from tests.unit.packaging.conftest import CONFIG, ROOT, Render, entry_points

INSTALLS = [CONFIG / "default", CONFIG / "overlays" / "dev", CONFIG / "overlays" / "prod"]


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_kubebuilder_entry_points_exist() -> None:
    names = {p.relative_to(CONFIG).as_posix() for p in entry_points()}
    expected = {
        "crd", "rbac", "manager", "default", "prometheus", "samples", "overlays/dev",
        "overlays/prod", "manifests", "scorecard", "member", "network-policy",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize(
    "directory", entry_points(), ids=lambda p: p.relative_to(CONFIG).as_posix()
)
def test_every_entry_point_builds(render: Render, directory: Path) -> None:
    objects = render(directory)
    assert objects, f"{directory} rendered nothing"
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name")


@pytest.mark.parametrize("directory", INSTALLS, ids=lambda p: p.relative_to(CONFIG).as_posix())
def test_installs_put_everything_in_the_prefixed_namespace(render: Render, directory: Path) -> None:
    objects = render(directory)
    (namespace,) = _by_kind(objects, "Namespace")
    assert namespace["metadata"]["name"] == "nimbusguard-system"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] in ("Namespace", "CustomResourceDefinition"):
            continue
        assert obj["metadata"]["name"].startswith("nimbusguard-"), obj["metadata"]["name"]
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "nimbusguard-system", obj["metadata"]["name"]
    (crd,) = _by_kind(objects, "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "scalingpolicies.nimbusguard.io"


@pytest.mark.parametrize("directory", INSTALLS, ids=lambda p: p.relative_to(CONFIG).as_posix())
def test_the_manager_pod_is_restricted(render: Render, directory: Path) -> None:
    (deployment,) = kustomize.manager_deployments(render(directory))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "nimbusguard-controller-manager"
    container = kustomize.manager_container(deployment)
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in sc
    # Probes on their own open port, /metrics on another (TLS, authenticated).
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"probes": 8081, "metrics": 8443}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert "--bind-address=:8081" in container["args"]
    assert "--metrics-bind-address=:8443" in container["args"]
    assert "--no-metrics-secure" not in container["args"]
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    # The read-only root filesystem needs a writable /tmp; the member kubeconfig is mounted.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    members = mounts["/etc/nimbusguard/members"]
    assert members["readOnly"] is True
    secret = volumes[members["name"]]["secret"]
    assert secret == {"secretName": "nimbusguard-member-clusters", "optional": True}
    assert "--member-kubeconfig=/etc/nimbusguard/members/kubeconfig" in container["args"]
    assert container["image"] == "ghcr.io/nimbusguard/nimbusguard-operator:v0.1.0"


def test_the_metrics_service_selects_the_manager_port(render: Render) -> None:
    objects = render(CONFIG / "default")
    (service,) = _by_kind(objects, "Service")
    (deployment,) = kustomize.manager_deployments(objects)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    monitor = next(o for o in render(CONFIG / "prometheus") if o["kind"] == "ServiceMonitor")
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == port["name"]
    assert endpoint["scheme"] == "https"
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_overlays_change_what_they_say(render: Render) -> None:
    dev = kustomize.manager_deployments(render(CONFIG / "overlays" / "dev"))[0]
    prod_objects = render(CONFIG / "overlays" / "prod")
    prod = kustomize.manager_deployments(prod_objects)[0]
    dev_env = {e["name"]: e["value"] for e in kustomize.manager_container(dev)["env"]}
    assert dev["spec"]["replicas"] == 1
    assert dev_env["NIMBUSGUARD_LOG_LEVEL"] == "DEBUG"
    assert prod["spec"]["replicas"] == 2
    assert "podAntiAffinity" in prod["spec"]["template"]["spec"]["affinity"]
    prod_resources = kustomize.manager_container(prod)["resources"]
    assert prod_resources["requests"]["memory"] == prod_resources["limits"]["memory"]
    (pdb,) = _by_kind(prod_objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= prod["spec"]["template"]["metadata"]["labels"].items()


def test_the_manager_image_tag_is_the_project_version() -> None:
    from hack.gen import bundle

    data = yaml.safe_load((CONFIG / "manager" / "kustomization.yaml").read_text())
    (image,) = data["images"]
    assert image["newTag"] == f"v{bundle.project_version(ROOT)}"
    makefile = (ROOT / "Makefile").read_text()
    assert f"VERSION ?= {bundle.project_version(ROOT)}\n" in makefile


def test_samples_kustomization_lists_every_sample() -> None:
    samples = CONFIG / "samples"
    listed = yaml.safe_load((samples / "kustomization.yaml").read_text())["resources"]
    files = sorted(p.name for p in samples.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == files


def test_render_swaps_only_the_manager_image(
    render: Render, capsys: pytest.CaptureFixture[str]
) -> None:
    from hack.gen import __main__ as gen

    assert (
        gen.main(["--root", str(ROOT), "render", str(CONFIG / "default"), "--image", "r/x:9"]) == 0
    )
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))
    (deployment,) = kustomize.manager_deployments(rendered)
    assert kustomize.manager_container(deployment)["image"] == "r/x:9"
    kustomize.manager_container(deployment)["image"] = (
        "ghcr.io/nimbusguard/nimbusguard-operator:v0.1.0"
    )
    assert rendered == render(CONFIG / "default")


def test_render_of_a_broken_entry_point_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hack.gen import __main__ as gen

    (tmp_path / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    assert gen.main(["render", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hack.gen: kubectl kustomize") and "missing.yaml" in err

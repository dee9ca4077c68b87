"""The tenancy admission policy we ship agrees with the operator's own check on names."""

from __future__ import annotations

from typing import Any

from hack.gen import bundle
from nimbusguard import tenancy
from tests.unit.packaging.conftest import CONFIG, ROOT, Render


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def test_the_default_install_binds_the_policy_to_the_grants(render: Render) -> None:
    found = _by_kind(render(CONFIG / "default"))
    policy = found["ValidatingAdmissionPolicy"]
    binding = found["ValidatingAdmissionPolicyBinding"]
    grants = [
        o
        for o in render(CONFIG / "default")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == tenancy.CONFIG_MAP
    ]
    assert len(grants) == 1 and "data" not in grants[0], "shipped without grants"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["paramRef"] == {
        "name": tenancy.CONFIG_MAP,
        "namespace": grants[0]["metadata"]["namespace"],
        "parameterNotFoundAction": "Deny",
    }
    assert binding["spec"]["validationActions"] == ["Deny"]
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["scalingpolicies"]  # not status: the operator's writes pass
    (validation,) = spec["validations"]
    # The message names the field and the rule, and the ConfigMap the grants live in.
    for words in (tenancy.FIELD, "namespace sameness", tenancy.CONFIG_MAP):
        assert words in validation["messageExpression"]
    # Same matching as nimbusguard/tenancy.py: split on commas, trim, compare exactly.
    assert ".split(',').map(g, g.trim())" in " ".join(v["expression"] for v in spec["variables"])
    assert f"'{tenancy.ANY_CLUSTER}/'" in validation["expression"]


def test_the_bundle_carries_the_grants_but_cannot_carry_the_policy() -> None:
    manifests = ROOT / "bundle" / "manifests"
    names = sorted(p.name for p in manifests.iterdir())
    assert f"{tenancy.CONFIG_MAP}_v1_configmap.yaml" in names
    assert not any("validatingadmissionpolicy" in n for n in names)
    csv = (manifests / f"{bundle.PACKAGE}.clusterserviceversion.yaml").read_text()
    assert "config/admission" in csv

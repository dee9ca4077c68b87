"""The generated CRD is structural, complete and in sync with the committed file."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from api import crd, generate
from api.v1 import groupversion_info as gv, scalingpolicy_types as types

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN_KEYS = {"$ref", "$defs", "allOf", "anyOf", "oneOf", "uniqueItems", "title", "const"}


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, prop in node.get("properties", {}).items():
        yield from _nodes(prop, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


@pytest.fixture(scope="module")
def version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd.custom_resource_definition()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


@pytest.fixture(scope="module")
def openapi(version: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_committed_crd_matches_the_models() -> None:
    for path, render in generate.outputs(ROOT).items():
        assert generate.stale(path, render()) is None, f"{path} is stale: run `make manifests`"


def test_crd_identity() -> None:
    obj = crd.custom_resource_definition()
    assert obj["apiVersion"] == "apiextensions.k8s.io/v1"
    assert obj["metadata"]["name"] == "scalingpolicies.nimbusguard.io"
    spec = obj["spec"]
    assert spec["group"] == gv.GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "ScalingPolicy"
    # Short names must not shadow built-in resources kubectl users type every day.
    builtin = {
        "po",
        "svc",
        "deploy",
        "rs",
        "sts",
        "ds",
        "cm",
        "ns",
        "no",
        "pv",
        "pvc",
        "sa",
        "hpa",
        "ing",
        "ep",
        "ev",
        "pdb",
        "sc",
        "crd",
        "cs",
        "netpol",
        "limits",
        "quota",
        "csr",
        "rc",
        "pc",
    }
    assert spec["names"]["shortNames"]
    assert not set(spec["names"]["shortNames"]) & builtin


def test_v1_is_served_and_stored_with_status(version: dict[str, Any]) -> None:
    assert version["name"] == "v1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_printer_columns(version: dict[str, Any]) -> None:
    cols = version["additionalPrinterColumns"]
    default_view = [c["name"] for c in cols if not c.get("priority")]
    assert default_view == [
        "Target", "Metric", "Min", "Max", "Replicas", "Acting", "Phase", "Ready", "Age"
    ]  # fmt: skip
    paths = {c["name"]: c["jsonPath"] for c in cols}
    assert paths["Metric"] == ".status.metricSummary"
    assert paths["Replicas"] == ".status.currentReplicas"
    assert paths["Acting"] == ".status.acting"
    assert paths["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert paths["HPA"] == ".status.lastDecision.baselineReplicas"
    assert paths["Age"] == ".metadata.creationTimestamp"


def test_kubectl_get_fits_120_columns(version: dict[str, Any]) -> None:
    # kubectl prints each column as wide as its widest cell, 3 spaces apart. Policy and target
    # names of 16 characters, every other cell at its widest: a failed metric, 4-digit
    # replicas, the longest phase and Ready value.
    widest = {
        "NAME": "checkout-api-web",
        "TARGET": "checkout-api-web",
        "METRIC": "<unknown>/1500",
        "MIN": "100",
        "MAX": "1000",
        "REPLICAS": "1000",
        "ACTING": "learner",
        "PHASE": "Initializing",
        "READY": "Unknown",
        "AGE": "2d23h",
    }
    headers = ["NAME"] + [c["name"].upper() for c in version["additionalPrinterColumns"]]
    shown = [h for h, c in zip(headers, [{}, *version["additionalPrinterColumns"]], strict=True)
             if not c.get("priority")]  # fmt: skip
    assert shown == list(widest)
    width = sum(max(len(h), len(v)) for h, v in widest.items()) + 3 * (len(widest) - 1)
    assert width <= 120, width


def _spec_properties(
    node: dict[str, Any], path: str = "spec"
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        yield f"{path}.{name}", prop, name in required
        yield from _spec_properties(prop, f"{path}.{name}")
    if "items" in node:
        yield from _spec_properties(node["items"], f"{path}[]")


def test_kubectl_explain_states_default_and_range(version: dict[str, Any]) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    checked = 0
    for path, prop, required in _spec_properties(spec):
        text = prop["description"]
        if required:
            assert "Required." in text, path
        elif "default" in prop:
            assert "Default: " in text, path
        else:
            assert "Optional" in text, path
        if prop["type"] in ("integer", "number"):
            assert "Range: " in text, path
        if len(prop.get("enum", [])) > 1:
            assert "One of: " + ", ".join(prop["enum"]) in text, path
        checked += 1
    assert checked >= 45


def _models() -> Iterator[type[pydantic.BaseModel]]:
    seen: set[type[pydantic.BaseModel]] = set()
    todo: list[type[pydantic.BaseModel]] = [types.ScalingPolicySpec]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        yield model
        for field in model.model_fields.values():
            for arg in (field.annotation, *typing.get_args(field.annotation)):
                if isinstance(arg, type) and issubclass(arg, pydantic.BaseModel):
                    todo.append(arg)


def test_defaults_in_descriptions_are_the_models_defaults(version: dict[str, Any]) -> None:
    """What kubectl explain says a default is, each model really fills in; and a default a
    description names by hand is either that value or another field of the same model."""
    from api import schema

    crd_text = str(version["schema"]["openAPIV3Schema"])
    checked = 0
    for model in _models():
        siblings = {f.alias or n for n, f in model.model_fields.items()}
        for name, field in model.model_fields.items():
            if field.is_required():
                continue
            value = field.get_default(call_default_factory=True)
            if value is None:
                continue
            dumped = pydantic.TypeAdapter(Any).dump_python(value, mode="json", by_alias=True)
            if isinstance(value, pydantic.BaseModel):
                dumped = value.model_dump(mode="json", by_alias=True, exclude_none=True)
            expected = schema._default_text(dumped)
            if not isinstance(dumped, dict) or len(expected) <= 100:
                assert f"Default: {expected}." in crd_text, f"{model.__name__}.{name}"
            for claim in re.findall(r"[Dd]efaults? to ([\w.]+)", field.description or ""):
                assert claim in siblings or claim == expected, f"{model.__name__}.{name}: {claim}"
            checked += 1
    assert checked >= 25


def test_metrics_description_says_prometheus_is_primary(version: dict[str, Any]) -> None:
    metrics = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["metrics"]
    assert "first source" not in str(metrics)
    assert "primary source when set" in metrics["properties"]["prometheus"]["description"]


def test_schema_is_structural(openapi: dict[str, Any]) -> None:
    for path, node in _nodes(openapi):
        assert not FORBIDDEN_KEYS & node.keys(), (
            f"{path or '<root>'}: {FORBIDDEN_KEYS & node.keys()}"
        )
        assert node.get("additionalProperties") is not False, path
        assert node.get("type"), f"{path or '<root>'} has no type"
        if "properties" in node:
            assert node["type"] == "object", path
        if "exclusiveMinimum" in node:
            assert isinstance(node["exclusiveMinimum"], bool), path


def test_every_field_is_described(openapi: dict[str, Any]) -> None:
    from api import schema

    undescribed = [p for p in schema.undescribed(openapi) if p != ".metadata"]
    assert undescribed == []


def test_optional_fields_are_nullable(openapi: dict[str, Any]) -> None:
    target = openapi["properties"]["spec"]["properties"]["target"]["properties"]
    assert target["cluster"]["nullable"] is True
    assert "cluster" not in openapi["properties"]["spec"]["properties"]["target"]["required"]


def test_enums(openapi: dict[str, Any]) -> None:
    status = openapi["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Initializing", "Learning", "Active", "Paused", "Error"]
    assert status["lastDecision"]["properties"]["action"]["enum"] == [
        "scale_up",
        "scale_down",
        "hold",
    ]
    assert status["phase"]["type"] == "string"


def test_cel_rules_are_declared(openapi: dict[str, Any]) -> None:
    rules = {
        path: [r["rule"] for r in node.get("x-kubernetes-validations", [])]
        for path, node in _nodes(openapi)
    }
    assert "self.minReplicas <= self.maxReplicas" in rules[".spec.scaling"]
    assert "self.epsilonEnd <= self.epsilonStart" in rules[".spec.aiConfig.qLearning"]
    assert "self > 0.0 && self <= 1.0" in rules[".spec.aiConfig.qLearning.learningRate"]
    assert "self >= 0.0 && self < 1.0" in rules[".spec.aiConfig.qLearning.discountFactor"]
    assert "self >= 0" in rules[".spec.scaling.minReplicas"]
    for path, node in _nodes(openapi):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], f"{path}: CEL rule without a message"


def test_status_has_no_defaults(openapi: dict[str, Any]) -> None:
    for path, node in _nodes(openapi["properties"]["status"]):
        assert "default" not in node, f".status{path}"


def test_nested_spec_objects_are_defaulted(openapi: dict[str, Any]) -> None:
    ai = openapi["properties"]["spec"]["properties"]["aiConfig"]
    assert ai["default"]["qLearning"]["learningRate"] == 0.02
    behavior = openapi["properties"]["spec"]["properties"]["scaling"]["properties"]["behavior"]
    assert behavior["default"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_conditions_are_a_map_list(openapi: dict[str, Any]) -> None:
    conditions = openapi["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {
        "type",
        "status",
        "reason",
        "lastTransitionTime",
    }


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert generate.main(["--root", str(tmp_path)]) == 0
    assert generate.main(["--root", str(tmp_path), "--check"]) == 0
    (path,) = generate.outputs(tmp_path)
    path.write_text(path.read_text().replace("minReplicas", "minReplica", 1))
    assert generate.main(["--root", str(tmp_path), "--check"]) == 1

"""Samples validate against the generated schema; invalid specs do not; JSON round-trips."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml

from api import crd
from api.v1 import scalingpolicy_types as types

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = sorted(
    p for p in (ROOT / "config" / "samples").glob("*.yaml") if p.name != "kustomization.yaml"
)

# Draft 4 reads the OpenAPI v3.0 boolean exclusiveMinimum the way the API server does;
# `nullable` and the x-kubernetes-* keys are unknown to it and ignored.
VALIDATOR = jsonschema.Draft4Validator(crd.openapi_schema())

VALID: dict[str, Any] = {
    "apiVersion": "nimbusguard.io/v1",
    "kind": "ScalingPolicy",
    "metadata": {"name": "p", "namespace": "default"},
    "spec": {
        "target": {"kind": "Deployment", "name": "web"},
        "scaling": {"minReplicas": 1, "maxReplicas": 5},
        "metrics": {"cpu": {"targetUtilization": 70}},
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with the dotted `path` set to `value` (or removed when value is ...)."""
    obj = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = obj
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return obj


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 5


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_validates_against_the_generated_schema(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    VALIDATOR.validate(obj)
    policy = types.ScalingPolicy.model_validate(obj)
    assert policy.metadata.name == obj["metadata"]["name"]


def test_the_reference_object_is_valid() -> None:
    VALIDATOR.validate(VALID)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.scaling.maxReplicas", "five"),  # wrong type
        ("spec.scaling.maxReplicas", 0),  # below minimum
        ("spec.scaling.maxReplicas", ...),  # required field missing
        ("spec.target", ...),  # required object missing
        ("spec.target.name", ""),  # empty name
        ("spec.target.name", "Not_A_DNS_Name"),  # pattern
        ("spec.target.kind", "Pod"),  # unknown enum value
        ("spec.target.apiVersion", "apps/v1beta1"),  # unknown enum value
        ("spec.scaling.evaluationInterval", 1),  # too frequent
        ("spec.scaling.cooldownPeriod", -1),  # negative
        ("spec.scaling.fallbackReplicas", -3),  # negative replica count
        ("spec.metrics.cpu.targetUtilization", 0),  # below minimum
        (
            "spec.metrics.prometheus",
            {"serverAddress": "prom:9090", "query": "up", "targetValue": 1},
        ),  # address without a scheme
        (
            "spec.metrics.prometheus",
            {"serverAddress": "http://p", "query": "up", "targetValue": 0},
        ),  # exclusive minimum
        ("spec.aiConfig", {"qLearning": {"epsilonStart": 1.5}}),  # above maximum
        ("spec.paused", "yes"),  # wrong type
        ("status", {"phase": "Running"}),  # unknown phase
        (
            "status",
            {
                "lastDecision": {
                    "action": "jump",
                    "mode": "baseline",
                    "fromReplicas": 1,
                    "toReplicas": 2,
                    "confidence": 1,
                    "reasoning": "x",
                    "time": "2026-01-01T00:00:00Z",
                }
            },
        ),  # unknown action
        ("status", {"currentReplicas": -1}),  # negative replica count
    ],
)
def test_invalid_specs_are_rejected_by_the_schema(path: str, value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(_with(path, value))


def test_models_reject_what_the_schema_rejects() -> None:
    # The operator parses with the same models; a body the schema refuses never parses either.
    with pytest.raises(ValueError, match="maxReplicas"):
        types.ScalingPolicy.model_validate(_with("spec.scaling.maxReplicas", "five"))
    with pytest.raises(ValueError, match="kind"):
        types.ScalingPolicy.model_validate(_with("spec.target.kind", "Pod"))


def test_camel_case_round_trip() -> None:
    body = _with("spec.aiConfig", {"qLearning": {"learningRate": 0.2, "epsilonEnd": 0.05}})
    body["status"] = {
        "phase": "Learning",
        "currentReplicas": 3,
        "lastScalingTime": "2026-11-27T10:30:00Z",
        "lastDecision": {
            "action": "scale_up",
            "mode": "baseline",
            "fromReplicas": 3,
            "toReplicas": 5,
            "confidence": 1.0,
            "reasoning": "above target",
            "time": "2026-11-27T10:30:00Z",
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "PolicyActive",
                "message": "",
                "lastTransitionTime": "2026-11-27T10:30:00Z",
            }
        ],
    }
    policy = types.ScalingPolicy.model_validate(body)
    assert policy.spec.ai_config.q_learning.learning_rate == 0.2
    assert policy.spec.ai_config.q_learning.epsilon_start == 1.0  # default filled in
    assert policy.status.last_decision is not None
    assert policy.status.last_decision.to_replicas == 5

    out = policy.to_json_dict()
    assert out["spec"]["aiConfig"]["qLearning"]["learningRate"] == 0.2
    assert out["status"]["lastDecision"]["toReplicas"] == 5
    assert "learning_rate" not in str(out)
    assert out["status"]["lastScalingTime"] == "2026-11-27T10:30:00Z"
    # What the operator writes validates against the CRD it generated.
    VALIDATOR.validate(out)
    assert types.ScalingPolicy.model_validate(out) == policy


def test_snake_case_names_are_accepted_in_python() -> None:
    spec = types.ScalingSpec(min_replicas=2, max_replicas=4)
    assert spec.to_json_dict()["minReplicas"] == 2


@pytest.mark.parametrize(
    ("path", "value", "accepted"),
    [
        (("scaling", "maxReplicas"), "5", False),  # a string is no number (the CRD refuses)
        (("paused",), 1, False),  # nor is 1 a boolean
        (("scaling", "maxReplicas"), 5.0, True),  # the API server stores 5.0 as 5
        (("scaling", "cooldownPeriod"), None, True),  # null: pruned, the default applies
        (("scaling", "minReplicas"), 6, False),  # the CEL rules hold here too: min ≤ max
        (("metrics",), {}, False),
        (("target", "namespace"), "x", False),
    ],
)
def test_the_spec_models_accept_what_the_api_server_admits(
    path: tuple[str, ...], value: Any, accepted: bool
) -> None:
    spec: dict[str, Any] = {
        "target": {"name": "web"},
        "scaling": {"maxReplicas": 5},
        "metrics": {"cpu": {"targetUtilization": 50}},
    }
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    try:
        types.ScalingPolicySpec.model_validate(spec)
    except pydantic.ValidationError:
        assert not accepted
    else:
        assert accepted

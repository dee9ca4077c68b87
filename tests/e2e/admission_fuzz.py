"""ScalingPolicy specs for differential admission fuzzing, and the models' verdict on them.

Specs come from two hypothesis strategies: one walks the CRD's OpenAPI schema (which is
generated from the pydantic models, api/crd.py) and draws values inside and just outside
every bound, pattern and enum; the other takes config/samples and mutates a few fields. Odd
strings (unicode, control characters, spaces, slashes, `@`, percent-encoding, very long
ones) are drawn for `target.cluster`, `query`, names and URLs. `verdict` is what the models
(plus the pure tenancy check) say about a body; the test compares it with the API server's.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from typing import Any

import pydantic
import yaml
from hypothesis import strategies as hs

from api import crd
from api.v1 import scalingpolicy_types as types
from nimbusguard import tenancy

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]

ODD_STRINGS = (
    "",
    " ",
    "prod eu",
    "prod\teu",
    "prod\neu",
    "préprod",
    "prod/eu",
    "../etc",
    "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
    "gke_proj_europe-west1_prod",
    "user@cluster",
    "kube-system",
    "hub",
    "*",
    "a%2Fb",
    "%00",
    "\u0000",
    "\u202e",
    "x" * 254,
    "x" * 5000,
    "http://user:pass@prom:9090",
    "http://prom:9090/?x=",
    "http://prom:9090/#f",
    "https://[::1]:9090/",
    "http://127.0.0.1:9090/api",
    "http://2130706433:9090",
    "HTTP://PROM:9090",
    "ftp://prom",
    "javascript:alert(1)",
    'sum(rate(x{a="b"}[1m]))',
    "up\n# comment",
    "{}",
    "'; DROP TABLE",
)

_ODD = hs.sampled_from(ODD_STRINGS) | hs.text(min_size=0, max_size=40)


def rarely(
    usual: hs.SearchStrategy[Any], odd: hs.SearchStrategy[Any], percent: int
) -> hs.SearchStrategy[Any]:
    """`odd` in about `percent` % of the draws, `usual` otherwise."""
    chosen: hs.SearchStrategy[Any] = hs.integers(0, 99).flatmap(
        lambda n: odd if n < percent else usual
    )
    return chosen


# Valid values for the patterns the schema uses (from_regex is slow; these are what matter).
_VALID = {
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": ["web", "shop", "a", "team-a", "x1-y2", "a" * 63],
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$": ["web", "api.v2", "qtable", "a", "b" * 253],
    r"^[!-~]+$": ["member", "prod-eu", "hub", "arn:aws:eks:eu:1:cluster/x", "a@b", "*"],
}


def _strings(node: JSON) -> hs.SearchStrategy[Any]:
    if "enum" in node:
        return rarely(hs.sampled_from(node["enum"]), _ODD, 5)
    low, high = node.get("minLength", 0), node.get("maxLength", 64)
    pattern = node.get("pattern")
    if pattern in _VALID:
        return rarely(hs.sampled_from(_VALID[pattern]), _ODD, 15)
    if pattern is not None:  # the serverAddress pattern
        urls = ["http://127.0.0.1:9090", "https://prom.monitoring.svc:9090/thanos", "http://p"]
        return rarely(hs.sampled_from(urls), _ODD, 30)
    return rarely(hs.text(min_size=low, max_size=min(high, 60)), _ODD, 20)


def _numbers(node: JSON, integer: bool) -> hs.SearchStrategy[Any]:
    low, high = node.get("minimum"), node.get("maximum")
    if integer:
        inside: hs.SearchStrategy[Any] = hs.integers(
            min_value=None if low is None else math.ceil(low),
            max_value=None if high is None else math.floor(high),
        )
    else:
        inside = hs.floats(
            min_value=low,
            max_value=high,
            exclude_min=bool(node.get("exclusiveMinimum")),
            exclude_max=bool(node.get("exclusiveMaximum")),
            allow_nan=False,
            allow_infinity=False,
        )
    edges = [v for b in (low, high) if b is not None for v in (b - 1, b, b + 1, b + 0.5)]
    return rarely(inside, hs.sampled_from(edges or [0, -1, 1e308]), 15)


def _wrong_type() -> hs.SearchStrategy[Any]:
    return hs.sampled_from([None, "5", 5, 5.5, True, [], {}, "true", -1])


def from_schema(node: JSON, depth: int = 0) -> hs.SearchStrategy[Any]:
    """Values for an OpenAPI schema node: mostly well-formed, sometimes just outside."""
    kind = node.get("type")
    if kind == "object":
        required = set(node.get("required", []))
        children = {
            name: from_schema(prop, depth + 1) for name, prop in node.get("properties", {}).items()
        }

        @hs.composite
        def build(draw: hs.DrawFn) -> JSON:
            out: JSON = {}
            for name, child in children.items():
                keep = draw(hs.integers(0, 99))
                if (name in required and keep < 97) or (name not in required and keep < 45):
                    out[name] = draw(child)
            if draw(hs.integers(0, 99)) < 2:
                out["unknownField"] = draw(hs.integers())
            return out

        strategy: hs.SearchStrategy[Any] = build()
    elif kind == "string":
        strategy = _strings(node)
    elif kind == "integer":
        strategy = _numbers(node, integer=True)
    elif kind == "number":
        strategy = _numbers(node, integer=False)
    elif kind == "boolean":
        strategy = hs.booleans()
    else:
        strategy = hs.nothing()
    # Now and then a value of the wrong type or a null, anywhere but at the top.
    return rarely(strategy, _wrong_type(), 2) if depth > 0 else strategy


@functools.cache
def _samples() -> list[JSON]:
    found = []
    for path in sorted((ROOT / "config" / "samples").glob("nimbusguard.io_v1_*.yaml")):
        found.append(yaml.safe_load(path.read_text())["spec"])
    return found


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return [prefix]
    out = [prefix] if prefix else []
    for key, item in value.items():
        out.extend(_paths(item, (*prefix, key)))
    return out


# Fields whose odd values matter most: where tenants put strings the operator logs and uses.
HOT = (
    ("target", "cluster"),
    ("target", "name"),
    ("target", "namespace"),
    ("metrics", "prometheus", "query"),
    ("metrics", "prometheus", "serverAddress"),
    ("metrics", "prometheus", "endpoint"),
    ("aiConfig", "qLearning", "warmStart", "configMapName"),
    ("aiConfig", "qLearning", "warmStart", "key"),
)


@hs.composite
def mutated_sample(draw: hs.DrawFn) -> JSON:
    """A config/samples spec with one to three fields changed, removed or oddly typed."""
    spec = copy.deepcopy(draw(hs.sampled_from(_samples())))
    for _ in range(draw(hs.integers(1, 3))):
        path = draw(hs.sampled_from(HOT) | hs.sampled_from(_paths(spec)))
        parent = spec
        for key in path[:-1]:
            child = parent.get(key)
            if not isinstance(child, dict):
                child = parent[key] = {}
            parent = child
        action = draw(hs.integers(0, 9))
        if action == 0:
            parent.pop(path[-1], None)
        elif action < 4:
            parent[path[-1]] = draw(_wrong_type() | hs.integers(-5, 20000))
        else:
            parent[path[-1]] = draw(_ODD)
    return spec


@hs.composite
def _consistent(draw: hs.DrawFn, spec: Any) -> Any:
    """Mostly put related fields in order, so that many specs are admitted and the
    differential is not all refusals (the rest stay as drawn)."""
    scaling = spec.get("scaling") if isinstance(spec, dict) else None
    if isinstance(scaling, dict) and draw(hs.integers(0, 99)) < 75:
        low, high = scaling.get("minReplicas"), scaling.get("maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            scaling["minReplicas"], scaling["maxReplicas"] = high, low
        fallback = scaling.get("fallbackReplicas")
        if isinstance(fallback, int) and isinstance(scaling.get("maxReplicas"), int):
            scaling["fallbackReplicas"] = min(fallback, scaling["maxReplicas"])
    metrics = spec.get("metrics") if isinstance(spec, dict) else None
    if isinstance(metrics, dict) and not metrics and draw(hs.integers(0, 99)) < 75:
        metrics["cpu"] = {"targetUtilization": 50}
    return spec


@functools.cache
def spec_strategy() -> hs.SearchStrategy[JSON]:
    schema = crd.openapi_schema()["properties"]["spec"]
    drawn = from_schema(schema).flatmap(_consistent)
    result: hs.SearchStrategy[JSON] = rarely(drawn, mutated_sample(), 40)
    return result


NAMES = rarely(
    hs.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z"),
    _ODD,
    10,
)


def body(name: str, spec: Any) -> JSON:
    return {
        "apiVersion": "nimbusguard.io/v1",
        "kind": "ScalingPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def verdict(namespace: str, obj: JSON, grants: tenancy.Grants) -> str | None:
    """None when the models (and the tenancy rule) accept the object; else why not."""
    try:
        policy = types.ScalingPolicy.model_validate({**obj, "metadata": {
            **obj["metadata"], "namespace": namespace}})  # fmt: skip
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        return f"models: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    target = policy.spec.target
    refusal = tenancy.check(namespace, target.cluster, target.namespace, grants)
    return None if refusal is None else f"tenancy: {refusal.message}"


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name))

"""Turn pydantic models into a structural OpenAPI v3 schema for a CustomResourceDefinition.

pydantic writes JSON Schema 2020-12; the API server wants a *structural* schema: no `$ref`,
a `type` on every node, `nullable` instead of `{"type": "null"}` branches, the boolean form of
`exclusiveMinimum`, no `title`. This module does that rewrite, keeps the CEL rules
(`x-kubernetes-validations`) declared on the models, and fills in defaults so the API server
stores complete objects.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import pydantic
import pydantic.json_schema
from pydantic_core import PydanticUndefined, core_schema

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# markers used by the models


def cel(rule: str, message: str) -> JSON:
    """One CEL validation rule, for `json_schema_extra`."""
    return cel_rules((rule, message))


def cel_rules(*rules: tuple[str, str]) -> JSON:
    """Several CEL validation rules, for `json_schema_extra`."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


@dataclasses.dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry (what `kubectl get` shows)."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0

    def to_json(self) -> JSON:
        col: JSON = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            col["priority"] = self.priority
        return col


@dataclasses.dataclass(frozen=True)
class CRDMeta:
    """CRD settings that are not part of the schema, declared on the root model."""

    printer_columns: tuple[PrinterColumn, ...] = ()


# ---------------------------------------------------------------------------------------------
# pydantic → structural schema


class _WithFactoryDefaults(pydantic.json_schema.GenerateJsonSchema):
    """Emit the value of `default_factory` fields as their default.

    pydantic leaves such defaults out; without them the API server would not default nested
    objects (`aiConfig: {}` would stay empty instead of getting the learning parameters).
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JSON:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            inner = self.generate_inner(schema["schema"])
            value = factory()  # type: ignore[call-arg]
            if isinstance(value, pydantic.BaseModel):
                dumped = value.model_dump(mode="json", by_alias=True, exclude_none=True)
            else:
                dumped = pydantic.TypeAdapter(type(value)).dump_python(value, mode="json")
            return {**inner, "default": dumped}
        return super().default_schema(schema)


def model_schema(model: type[pydantic.BaseModel]) -> JSON:
    """The structural schema of a model (pure; the same input always gives the same output)."""
    raw = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults
    )
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def _structural(node: JSON, defs: dict[str, JSON]) -> JSON:
    node = copy.deepcopy(node)

    ref = node.pop("$ref", None)
    if ref is not None:
        target = defs[ref.rsplit("/", 1)[-1]]
        # Keys next to the $ref (description, default, CEL on the field) override the target's.
        node = {**copy.deepcopy(target), **node}

    nullable = False
    for junctor in ("anyOf", "oneOf"):
        branches = node.pop(junctor, None)
        if branches is None:
            continue
        non_null = [b for b in branches if b.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"unions other than `X | None` are not structural: {branches!r}")
        nullable = len(non_null) != len(branches)
        resolved = _structural(non_null[0], defs)
        node = {**resolved, **node}

    all_of = node.pop("allOf", None)
    if all_of is not None:
        if len(all_of) != 1:
            raise ValueError(f"allOf with several members is not supported: {all_of!r}")
        node = {**_structural(all_of[0], defs), **node}

    out: JSON = {}
    for key, value in node.items():
        if key in ("title", "additionalProperties"):
            continue
        if key == "properties":
            out["properties"] = {k: _structural(v, defs) for k, v in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value

    if "type" not in out:
        if "properties" in out:
            out["type"] = "object"
        elif "enum" in out and all(isinstance(v, str) for v in out["enum"]):
            out["type"] = "string"
        else:
            raise ValueError(f"schema node without a type: {node!r}")
    if nullable:
        out["nullable"] = True
        # A `None` default is what "absent" already means; storing null helps nobody.
        if out.get("default", PydanticUndefined) is None:
            del out["default"]
    return out


def strip_defaults(node: JSON) -> JSON:
    """A copy without any `default` (for status: the operator owns every value there)."""
    out = {k: v for k, v in node.items() if k != "default"}
    if "properties" in out:
        out["properties"] = {k: strip_defaults(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = strip_defaults(out["items"])
    return out


def undescribed(node: JSON, path: str = "") -> list[str]:
    """Paths of properties that lack a description (every field must explain itself)."""
    missing: list[str] = []
    for name, prop in node.get("properties", {}).items():
        here = f"{path}.{name}"
        if not prop.get("description"):
            missing.append(here)
        missing.extend(undescribed(prop, here))
    if "items" in node:
        missing.extend(undescribed(node["items"], f"{path}[]"))
    return missing


# ---------------------------------------------------------------------------------------------
# kubectl explain prints a field's description, never its default, bounds or enum


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_default_text(v)}" for k, v in sorted(value.items()))
        return "{" + inner + "}"
    if isinstance(value, float | int):
        return _number(value)
    return str(value)


# `self >= 0`, `self > 0.0 && self <= 1.0`: bounds written as CEL rules on a scalar field.
_CEL_BOUND = re.compile(r"\bself\s*(>=|>|<=|<)\s*(-?\d+(?:\.\d+)?)\b")

# Object defaults longer than this are left to their fields' own descriptions.
_MAX_DEFAULT_TEXT = 100


def explain_suffix(prop: JSON, *, required: bool) -> str:
    """What kubectl explain would otherwise hide: required/default, range, choices, length.

    E.g. "Default: 30. Range: 5 to 3600." The sentences are derived from the schema itself,
    so they cannot disagree with what the API server enforces.
    """
    parts: list[str] = []
    if required:
        parts.append("Required.")
    elif "default" in prop:
        text = _default_text(prop["default"])
        if isinstance(prop["default"], dict) and len(text) > _MAX_DEFAULT_TEXT:
            parts.append("Default: every field below at its default.")
        else:
            parts.append(f"Default: {text}.")
    elif "efaults to" in prop.get("description", "") or "bsent" in prop.get("description", ""):
        parts.append("Optional.")  # the description says what absent means
    else:
        parts.append("Optional, no default.")
    low, high = prop.get("minimum"), prop.get("maximum")
    low_open, high_open = prop.get("exclusiveMinimum", False), prop.get("exclusiveMaximum", False)
    for rule in prop.get("x-kubernetes-validations", []):
        for op, bound in _CEL_BOUND.findall(rule["rule"]):
            value = float(bound) if "." in bound else int(bound)
            if op.startswith(">"):
                low, low_open = value, op == ">"
            else:
                high, high_open = value, op == "<"
    if low is not None and high is not None and not low_open and not high_open:
        parts.append(f"Range: {_number(low)} to {_number(high)}.")
    else:
        bounds = []
        if low is not None:
            bounds.append(f"{'above' if low_open else 'at least'} {_number(low)}")
        if high is not None:
            bounds.append(f"{'below' if high_open else 'at most'} {_number(high)}")
        if bounds:
            parts.append(f"Range: {', '.join(bounds)}.")
    if "enum" in prop and len(prop["enum"]) > 1:
        parts.append("One of: " + ", ".join(str(v) for v in prop["enum"]) + ".")
    if "minLength" in prop or "maxLength" in prop:
        parts.append(f"Length: {prop.get('minLength', 0)} to {prop.get('maxLength', 'any')}.")
    return " ".join(parts)


def with_explain_suffixes(node: JSON) -> JSON:
    """A copy in which every property's description ends with its `explain_suffix`."""
    out = dict(node)
    required = set(node.get("required", []))
    if "properties" in node:
        props = {}
        for name, prop in node["properties"].items():
            described = with_explain_suffixes(prop)
            suffix = explain_suffix(prop, required=name in required)
            described["description"] = f"{prop.get('description', '').rstrip()} {suffix}".strip()
            props[name] = described
        out["properties"] = props
    if "items" in node:
        out["items"] = with_explain_suffixes(node["items"])
    return out

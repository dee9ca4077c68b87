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

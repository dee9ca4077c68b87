"""Build the ScalingPolicy CustomResourceDefinition from the api/v1 models."""

from __future__ import annotations

from typing import Any

from api import schema
from api.v1 import groupversion_info as gv, scalingpolicy_types as types

CRD_FILE_NAME = f"{gv.GROUP}_{gv.PLURAL}.yaml"


def openapi_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the v1 version."""
    root = schema.model_schema(types.ScalingPolicy)
    props = root["properties"]
    # apiVersion, kind and metadata belong to the API server; declare them the kubebuilder way.
    props["apiVersion"] = {
        "type": "string",
        "description": props["apiVersion"]["description"],
    }
    props["kind"] = {"type": "string", "description": props["kind"]["description"]}
    props["metadata"] = {"type": "object"}
    props["status"] = schema.strip_defaults(props["status"])
    props["spec"].pop("default", None)
    props["status"].pop("default", None)
    root["required"] = ["spec"]
    return root


def explained_schema() -> dict[str, Any]:
    """openapi_schema() with defaults, ranges and choices spelled out in the spec's
    descriptions: `kubectl explain` prints descriptions only (docs/configuration.md has them
    in columns of their own, from openapi_schema())."""
    root = openapi_schema()
    root["properties"]["spec"] = schema.with_explain_suffixes(root["properties"]["spec"])
    return root


def custom_resource_definition() -> dict[str, Any]:
    """The whole CRD object, ready to be written as YAML."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{gv.PLURAL}.{gv.GROUP}",
            "annotations": {"nimbusguard.io/generated-from": "api/v1 (make manifests)"},
        },
        "spec": {
            "group": gv.GROUP,
            "names": {
                "kind": gv.KIND,
                "listKind": gv.LIST_KIND,
                "plural": gv.PLURAL,
                "singular": gv.SINGULAR,
                "shortNames": list(gv.SHORT_NAMES),
                "categories": list(gv.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": gv.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        c.to_json() for c in types.ScalingPolicy.crd.printer_columns
                    ],
                    "schema": {"openAPIV3Schema": explained_schema()},
                }
            ],
        },
    }

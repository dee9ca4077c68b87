"""docs/configuration.md is generated from the models and the settings parser, and complete."""

from __future__ import annotations

import argparse
import re

import pydantic

from api.v1 import scalingpolicy_types as types
from controllers import settings
from hack.gen import config_reference, settings_reference
from tests.unit.packaging.conftest import ROOT

REFERENCE = ROOT / "docs" / "configuration.md"


def _models() -> list[type[pydantic.BaseModel]]:
    found: list[type[pydantic.BaseModel]] = []
    todo: list[type[pydantic.BaseModel]] = [types.ScalingPolicySpec, types.ScalingPolicyStatus]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.append(model)
        for field in model.model_fields.values():
            inner = config_reference._nested_model(field.annotation)
            if inner is not None:
                todo.append(inner)
    return found


def test_the_committed_reference_is_generated() -> None:
    assert REFERENCE.read_text() == config_reference.render(), "run `make manifests`"


def test_every_type_has_a_section_with_every_field() -> None:
    text = config_reference.render()
    sections = dict(re.findall(r"^### (\w+)\n(.*?)(?=^##|\Z)", text, flags=re.S | re.M))
    models = _models()
    assert len(models) >= 15
    for model in models:
        body = sections[model.__name__]
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in body, f"{model.__name__}.{name}"
            assert (field.description or "")[:30] in body


def test_every_flag_of_nimbusguard_run_is_listed() -> None:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    text = settings_reference.render()
    assert "operator-settings.md" in config_reference.render()
    checked = 0
    for action in parser._actions:
        for flag in action.option_strings:
            if flag not in ("-h", "--help") and not flag.startswith("--no-"):
                assert f"`{flag}`" in text, flag
                checked += 1
    assert checked == len(settings.Settings.model_fields)


OURS = ["installation.md", "multi-cluster.md", "architecture.md", "runbooks.md"]
TOP = "config|hack|tests|bundle|docs|controllers|nimbusguard|api"
REPO_PATH = re.compile(rf"`((?:{TOP})/[\w./-]*)`")


def test_the_docs_name_only_files_that_exist() -> None:
    checked = 0
    for name in OURS:
        text = (ROOT / "docs" / name).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if not target.startswith("http"):
                assert (ROOT / "docs" / target).exists(), f"{name}: link {target}"
        for path in REPO_PATH.findall(text):
            assert (ROOT / path.rstrip("/")).exists(), f"{name}: {path}"
            checked += 1
    assert checked > 20

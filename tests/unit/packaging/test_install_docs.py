"""docs/installation.md can be followed as written: its overlay renders with the image it
names, its make targets exist, its Helm values exist, its OLM objects are well-formed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from hack.gen import kustomize
from tests.unit.packaging.conftest import ROOT, Render

DOC = (ROOT / "docs" / "installation.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_overlay_recipe_sets_the_image(render: Render, tmp_path: Path) -> None:
    (recipe,) = [b for b in _blocks("yaml") if "my-nimbusguard/kustomization.yaml" in b]
    overlay = yaml.safe_load(recipe)
    # The recipe's base is a checkout next to the overlay; here, this repository.
    overlay["resources"] = [os.path.relpath(ROOT / "config" / "default", tmp_path)]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    (deployment,) = kustomize.manager_deployments(render(tmp_path))
    image = kustomize.manager_container(deployment)["image"]
    (wanted,) = overlay["images"]
    assert image == f"{wanted['newName']}:{wanted['newTag']}"


def test_every_make_target_it_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))
    named = {
        word
        for line in re.findall(r"make ([a-z][a-z0-9 -]*)", DOC)
        for word in line.split()
        if re.fullmatch(r"[a-z][a-z0-9-]*", word)
    }
    assert {"docker-build", "bundle", "catalog", "catalog-build", "undeploy"} <= named
    assert named <= defined, named - defined


def test_the_helm_values_it_lists_exist() -> None:
    values = yaml.safe_load((ROOT / "charts" / "nimbusguard-operator" / "values.yaml").read_text())
    listed = re.findall(r"^\| `([a-zA-Z.]+)`", DOC, flags=re.MULTILINE)
    assert len(listed) >= 8
    for dotted in listed:
        node = values
        for key in dotted.split(".")[:2]:
            assert key in node, dotted
            node = node[key]


def test_the_olm_objects_are_complete() -> None:
    (olm,) = [b for b in _blocks("yaml") if "kind: Subscription" in b]
    objects = {o["kind"]: o for o in yaml.safe_load_all(olm)}
    assert set(objects) == {"CatalogSource", "Namespace", "OperatorGroup", "Subscription"}
    subscription = objects["Subscription"]["spec"]
    assert subscription["channel"] == "stable"
    assert subscription["source"] == objects["CatalogSource"]["metadata"]["name"]
    upgrades = yaml.safe_load((ROOT / "config" / "catalog" / "upgrades.yaml").read_text())
    assert subscription["name"] == upgrades["package"]
    assert subscription["channel"] in upgrades["channels"]

"""`make catalog`: a File-Based Catalog with channel stable whose upgrade edges come from
config/catalog/upgrades.yaml, accepted by `opm validate` (opm from the Go module proxy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hack.gen import bundle, catalog
from tests.unit.packaging.conftest import ROOT, go_tool

IMAGE = "registry.example.com/nimbusguard-operator-bundle:v" + bundle.project_version(ROOT)


def _opm() -> str:
    return go_tool("opm")


def test_the_catalog_builds_and_validates(tmp_path: Path) -> None:
    written = catalog.build(ROOT, _opm(), IMAGE, tmp_path / "catalog")
    objects = [d for d in yaml.safe_load_all(written.read_text()) if d]
    by_schema = {o["schema"]: o for o in objects}
    package = by_schema["olm.package"]
    assert (package["name"], package["defaultChannel"]) == ("nimbusguard-operator", "stable")
    channel = by_schema["olm.channel"]
    version = bundle.project_version(ROOT)
    assert channel["name"] == "stable"
    assert channel["entries"][-1]["name"] == f"nimbusguard-operator.v{version}"
    (blob,) = [o for o in objects if o["schema"] == "olm.bundle"]
    assert blob["image"] == IMAGE
    assert {"type": "olm.package", "value": {"packageName": "nimbusguard-operator",
            "version": version}} in blob["properties"]  # fmt: skip


def test_the_graph_ends_at_the_projects_version() -> None:
    upgrades = catalog.load(ROOT)
    assert upgrades.channels[upgrades.default_channel][-1].version == bundle.project_version(ROOT)


def _root_with(tmp_path: Path, upgrades: str) -> Path:
    (tmp_path / "config" / "catalog").mkdir(parents=True)
    (tmp_path / catalog.UPGRADES).write_text(upgrades)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_edge_from_an_unknown_release_is_refused(tmp_path: Path) -> None:
    root = _root_with(
        tmp_path,
        "package: p\ndefaultChannel: stable\nchannels:\n  stable:\n"
        "  - version: 0.1.0\n    replaces: 0.0.9\n",
    )
    with pytest.raises(catalog.CatalogError, match=r"replaces 0\.0\.9"):
        catalog.load(root)


def test_a_version_bump_without_an_entry_is_refused(tmp_path: Path) -> None:
    root = _root_with(
        tmp_path, "package: p\ndefaultChannel: stable\nchannels:\n  stable:\n  - version: 0.0.1\n"
    )
    with pytest.raises(catalog.CatalogError, match="no entry for"):
        catalog.blobs(root, _opm(), IMAGE)


def test_opm_refuses_a_channel_entry_without_its_bundle(tmp_path: Path) -> None:
    written = catalog.build(ROOT, _opm(), IMAGE, tmp_path / "catalog")
    objects = [d for d in yaml.safe_load_all(written.read_text()) if d]
    written.write_text(yaml.safe_dump_all([o for o in objects if o["schema"] != "olm.bundle"]))
    problem = catalog.validate(_opm(), tmp_path / "catalog")
    assert problem is not None

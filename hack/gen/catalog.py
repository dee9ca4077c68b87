"""The OLM File-Based Catalog: package, channel `stable` and bundles, validated with opm.

The channel's entries and their upgrade edges (`replaces`, `skipRange`) come from one file,
config/catalog/upgrades.yaml. The bundle of the current version is `opm render`ed from
bundle/ (with the bundle image it will be pushed as); earlier releases from their images.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from hack.gen import bundle

Obj = dict[str, Any]
UPGRADES = Path("config") / "catalog" / "upgrades.yaml"


class CatalogError(Exception):
    """The upgrade graph or opm refused; the message says why."""


@dataclasses.dataclass(frozen=True)
class Release:
    version: str
    replaces: str | None = None
    skip_range: str | None = None
    image: str | None = None  # the published bundle image of an earlier release


@dataclasses.dataclass(frozen=True)
class Upgrades:
    package: str
    default_channel: str
    channels: dict[str, list[Release]]


def load(root: Path) -> Upgrades:
    """config/catalog/upgrades.yaml, checked: known predecessors, oldest first."""
    raw: Obj = yaml.safe_load((root / UPGRADES).read_text())
    channels: dict[str, list[Release]] = {}
    for channel, entries in raw["channels"].items():
        releases = [
            Release(
                version=str(e["version"]),
                replaces=e.get("replaces"),
                skip_range=e.get("skipRange"),
                image=e.get("image"),
            )
            for e in entries
        ]
        seen: set[str] = set()
        for release in releases:
            if release.replaces is not None and release.replaces not in seen:
                raise CatalogError(
                    f"{UPGRADES}: {release.version} replaces {release.replaces}, which is not "
                    f"an earlier entry of channel {channel}"
                )
            seen.add(release.version)
        channels[channel] = releases
    if raw["defaultChannel"] not in channels:
        raise CatalogError(f"{UPGRADES}: defaultChannel {raw['defaultChannel']} has no entries")
    return Upgrades(raw["package"], raw["defaultChannel"], channels)


def _csv_name(package: str, version: str) -> str:
    return f"{package}.v{version}"


def _opm_render(opm: str, source: str) -> list[Obj]:
    done = subprocess.run(
        [opm, "render", source, "--migrate-level", "bundle-object-to-csv-metadata", "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise CatalogError(f"opm render {source}: {done.stderr.strip()[-500:]}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def blobs(root: Path, opm: str, bundle_image: str) -> list[Obj]:
    """The catalog's objects: the package, one channel per channel, one bundle per release."""
    upgrades = load(root)
    current = bundle.project_version(root)
    releases = {r.version: r for entries in upgrades.channels.values() for r in entries}
    if current not in releases:
        raise CatalogError(f"{UPGRADES} has no entry for {current}, the version in pyproject.toml")
    out: list[Obj] = [
        {
            "schema": "olm.package",
            "name": upgrades.package,
            "defaultChannel": upgrades.default_channel,
        }
    ]
    for channel, entries in upgrades.channels.items():
        rendered_entries = []
        for release in entries:
            entry: Obj = {"name": _csv_name(upgrades.package, release.version)}
            if release.replaces:
                entry["replaces"] = _csv_name(upgrades.package, release.replaces)
            if release.skip_range:
                entry["skipRange"] = release.skip_range
            rendered_entries.append(entry)
        out.append(
            {"schema": "olm.channel", "package": upgrades.package, "name": channel,
             "entries": rendered_entries}
        )  # fmt: skip
    for version, release in releases.items():
        if version == current:
            (blob,) = _opm_render(opm, str(root / "bundle"))
            blob["image"] = bundle_image
        elif release.image:
            (blob,) = _opm_render(opm, release.image)
        else:
            raise CatalogError(f"{UPGRADES}: release {version} needs the `image:` of its bundle")
        if blob.get("name") != _csv_name(upgrades.package, version):
            raise CatalogError(f"the bundle of {version} is {blob.get('name')}")
        out.append(blob)
    return out


def validate(opm: str, directory: Path) -> str | None:
    """None when `opm validate` accepts the catalog, else its complaint."""
    done = subprocess.run(
        [opm, "validate", str(directory)], capture_output=True, text=True, timeout=300, check=False
    )
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()


def build(root: Path, opm: str, bundle_image: str, out: Path) -> Path:
    """Write the catalog under `out` (out/<package>/catalog.yaml) and validate it, and check
    that opm refuses a copy whose channel names a bundle that is not there."""
    objects = blobs(root, opm, bundle_image)
    package = str(objects[0]["name"])
    if out.exists():
        shutil.rmtree(out)
    (out / package).mkdir(parents=True)
    catalog = out / package / "catalog.yaml"
    catalog.write_text(yaml.safe_dump_all(objects, sort_keys=False, width=100))
    problem = validate(opm, out)
    if problem is not None:
        raise CatalogError(f"opm validate {out}: {problem}")
    broken = out.with_name(out.name + ".broken")
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(out, broken)
    tampered = [dict(o) for o in objects]
    for obj in tampered:
        if obj["schema"] == "olm.channel":
            obj["entries"] = [*obj["entries"], {"name": f"{package}.v99.0.0"}]
    (broken / package / "catalog.yaml").write_text(yaml.safe_dump_all(tampered, sort_keys=False))
    refused = validate(opm, broken) is not None
    shutil.rmtree(broken)
    if not refused:
        raise CatalogError("opm validate accepted a channel entry without a bundle")
    return catalog

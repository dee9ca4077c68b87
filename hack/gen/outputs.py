"""The files this package generates, and how to write or check them.

Two groups: `manifests` (RBAC roles and the configuration reference; pure Python) and
`bundle` (the OLM bundle; needs `kubectl kustomize`). `make verify` checks both.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from api import generate as api_generate
from hack.gen import bundle, config_reference, rbac, settings_reference

Renderers = dict[Path, Callable[[], str]]


def manifests(root: Path) -> Renderers:
    """RBAC roles, docs/configuration.md and docs/operator-settings.md."""
    return {
        root / "config" / "rbac" / "role.yaml": rbac.manager_role,
        root / "config" / "rbac" / "leader_election_role.yaml": rbac.leader_election_role,
        root / "config" / "member" / "role.yaml": rbac.member_role,
        root / "config" / "rbac" / "metrics_auth_role.yaml": rbac.metrics_auth_role,
        root / "docs" / "configuration.md": config_reference.render,
        root / "docs" / "operator-settings.md": settings_reference.render,
    }


@dataclasses.dataclass(frozen=True)
class BundleOptions:
    version: str | None = None  # default: pyproject's
    image: str | None = None  # default: what config/manager renders


def bundle_files(root: Path, options: BundleOptions = BundleOptions()) -> dict[Path, str]:
    """Every file of bundle/ and bundle.Dockerfile, rendered once (one kustomize run)."""
    files = bundle.render(root, version=options.version, image=options.image)
    return {root / rel: text for rel, text in files.items()}


def write(files: dict[Path, str], root: Path) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(root)}")


def check(files: dict[Path, str], root: Path) -> bool:
    """True when every file is up to date; prints a diff per stale file to stderr."""
    fresh = True
    for path, text in files.items():
        diff = api_generate.stale(path, text)
        if diff is not None:
            fresh = False
            sys.stderr.write(diff)
            stale = path.relative_to(root)
            sys.stderr.write(f"\n{stale} is stale: run `make manifests bundle helm-chart`.\n")
    return fresh


def stray_bundle_files(root: Path, files: dict[Path, str]) -> list[Path]:
    """Files under bundle/ that the generator would not write (left from an older bundle)."""
    wanted = set(files)
    return sorted(p for p in (root / "bundle").rglob("*") if p.is_file() and p not in wanted)

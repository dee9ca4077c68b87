"""Shared fixtures of the packaging tests: the repository root and rendered kustomize trees."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hack.gen import kustomize

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config"


@functools.cache
def go_tool(name: str) -> str:
    """A pinned Go tool (helm, opm), built on first use by hack/go-tool.sh; its path."""
    done = subprocess.run(
        [str(ROOT / "hack" / "go-tool.sh"), name],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


Render = Callable[[Path], list[dict[str, Any]]]


def entry_points() -> list[Path]:
    """Every directory of config/ that kustomize can be pointed at."""
    return sorted(p.parent for p in CONFIG.rglob("kustomization.yaml"))


@pytest.fixture(scope="session")
def render() -> Render:
    """`kubectl kustomize DIR` as objects, cached per directory; skips without kubectl."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH (it ships kustomize)")
    cache: dict[Path, list[dict[str, Any]]] = {}

    def build(directory: Path) -> list[dict[str, Any]]:
        if directory not in cache:
            cache[directory] = kustomize.build(directory)
        return cache[directory]

    return build

"""Render kustomize entry points with `kubectl kustomize`, and swap the manager's image.

kubectl ships kustomize, so no separate binary is needed; `kubectl kustomize` has no
`edit set image`, hence `set_image` on the rendered objects (what `make deploy IMG=...` uses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]


class KustomizeError(Exception):
    """kubectl is missing or kustomize refused the entry point; the message says which."""


def kubectl() -> str:
    """The kubectl to use: $KUBECTL, else the one on PATH."""
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        raise KustomizeError("kubectl is not on PATH (set KUBECTL=/path/to/kubectl)")
    return found


def build(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize <directory>` renders, in its order."""
    try:
        done = subprocess.run(
            [kubectl(), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except OSError as exc:
        raise KustomizeError(f"cannot run kubectl: {exc}") from exc
    if done.returncode != 0:
        raise KustomizeError(f"kubectl kustomize {directory}: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def dump(objects: list[Obj]) -> str:
    """Objects as one multi-document YAML stream (kubectl's style: sorted keys)."""
    return "---\n".join(
        yaml.safe_dump(obj, sort_keys=True, width=100, default_flow_style=False) for obj in objects
    )


MANAGER_CONTAINER = "manager"


def manager_deployments(objects: list[Obj]) -> list[Obj]:
    """The operator's Deployment(s) among rendered objects."""
    return [
        o
        for o in objects
        if o.get("kind") == "Deployment"
        and any(
            c.get("name") == MANAGER_CONTAINER
            for c in o["spec"]["template"]["spec"].get("containers", [])
        )
    ]


def manager_container(deployment: Obj) -> Obj:
    """The operator's container in its Deployment."""
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if container.get("name") == MANAGER_CONTAINER:
            result: Obj = container
            return result
    raise KustomizeError(f"Deployment {deployment['metadata']['name']} has no manager container")


def set_image(objects: list[Obj], image: str) -> list[Obj]:
    """The objects with the manager container's image replaced (in place; returned)."""
    deployments = manager_deployments(objects)
    if not deployments:
        raise KustomizeError("no Deployment with a container named 'manager' was rendered")
    for deployment in deployments:
        manager_container(deployment)["image"] = image
    return objects

"""Kubeconfig files: one context per cluster, credentials embedded so the file stands alone
(it can be copied, or put into a Secret for the operator's member clusters)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Entry:
    """One cluster as seen by an admin: context, cluster and user all take `name`-based names."""

    name: str
    server: str
    ca_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes

    @property
    def user(self) -> str:
        return f"{self.name}-admin"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render(entries: Sequence[Entry], current_context: str | None = None) -> dict[str, Any]:
    """A kubeconfig document with one cluster, user and context per entry.

    The current context is `current_context`, or the first entry's name.
    """
    if not entries:
        raise ValueError("a kubeconfig needs at least one cluster")
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"cluster names must be unique: {names}")
    current = current_context or names[0]
    if current not in names:
        raise ValueError(f"current context {current!r} is not one of {names}")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": current,
        "clusters": [
            {
                "name": entry.name,
                "cluster": {
                    "server": entry.server,
                    "certificate-authority-data": _b64(entry.ca_pem),
                },
            }
            for entry in entries
        ],
        "users": [
            {
                "name": entry.user,
                "user": {
                    "client-certificate-data": _b64(entry.client_cert_pem),
                    "client-key-data": _b64(entry.client_key_pem),
                },
            }
            for entry in entries
        ],
        "contexts": [
            {"name": entry.name, "context": {"cluster": entry.name, "user": entry.user}}
            for entry in entries
        ],
    }


def write(path: Path, config: dict[str, Any]) -> None:
    """Write a kubeconfig readable by the owner only (it holds private keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))

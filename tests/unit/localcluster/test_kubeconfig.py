"""The shared kubeconfig: one context per cluster, credentials embedded, owner-only file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import kubernetes
import pytest
import yaml

from hack.localcluster import kubeconfig


def entry(name: str, port: int) -> kubeconfig.Entry:
    return kubeconfig.Entry(
        name=name,
        server=f"https://127.0.0.1:{port}",
        ca_pem=f"ca-{name}".encode(),
        client_cert_pem=f"cert-{name}".encode(),
        client_key_pem=f"key-{name}".encode(),
    )


def test_one_context_per_cluster_with_its_own_credentials() -> None:
    config = kubeconfig.render([entry("hub", 21000), entry("member", 22000)])

    assert config["current-context"] == "hub"
    assert [c["name"] for c in config["contexts"]] == ["hub", "member"]
    member = next(c for c in config["clusters"] if c["name"] == "member")["cluster"]
    assert member["server"] == "https://127.0.0.1:22000"
    assert base64.b64decode(member["certificate-authority-data"]) == b"ca-member"
    user = next(u for u in config["users"] if u["name"] == "member-admin")["user"]
    assert base64.b64decode(user["client-key-data"]) == b"key-member"


def test_current_context_can_be_chosen() -> None:
    config = kubeconfig.render([entry("hub", 1), entry("member", 2)], current_context="member")

    assert config["current-context"] == "member"


@pytest.mark.parametrize(
    ("entries", "current", "message"),
    [
        ([], None, "at least one cluster"),
        ([entry("hub", 1), entry("hub", 2)], None, "unique"),
        ([entry("hub", 1)], "member", "not one of"),
    ],
)
def test_bad_input_is_refused(
    entries: list[kubeconfig.Entry], current: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        kubeconfig.render(entries, current_context=current)


def test_written_file_is_private_and_readable_by_the_kubernetes_client(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"

    kubeconfig.write(path, kubeconfig.render([entry("hub", 1), entry("member", 2)]))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    contexts, active = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=str(path)
    )
    assert [c["name"] for c in contexts] == ["hub", "member"]
    assert active["name"] == "hub"
    assert yaml.safe_load(path.read_text())["kind"] == "Config"

"""Pure parts of the e2e fixtures: backend choice, kind kubeconfig merging, namespace names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.e2e import support


def never() -> bool:
    raise AssertionError("docker must not be asked")


@pytest.mark.parametrize(
    ("environ", "docker", "backend"),
    [
        ({"NIMBUSGUARD_E2E_KUBECONFIG": "/k"}, never, "kubeconfig"),
        ({}, lambda: True, "kind"),
        ({}, lambda: False, "local"),
        ({"NIMBUSGUARD_E2E_BACKEND": "local", "NIMBUSGUARD_E2E_KUBECONFIG": "/k"}, never, "local"),
    ],
)
def test_backend_order(environ: dict[str, str], docker: object, backend: str) -> None:
    assert support.choose_backend(environ, docker) == backend  # type: ignore[arg-type]


def test_an_unknown_forced_backend_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="use one of kubeconfig, kind, local"):
        support.choose_backend({"NIMBUSGUARD_E2E_BACKEND": "minikube"}, never)


def kind_kubeconfig(path: Path, name: str, server: str) -> Path:
    """A kubeconfig shaped like the one `kind create cluster` writes."""
    context = f"kind-{name}"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": context,
                "clusters": [{"name": context, "cluster": {"server": server}}],
                "users": [{"name": context, "user": {"token": f"token-{name}"}}],
                "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            }
        )
    )
    return path


def test_kind_kubeconfigs_merge_into_hub_and_member_contexts(tmp_path: Path) -> None:
    hub = kind_kubeconfig(tmp_path / "hub", "nimbusguard-hub", "https://127.0.0.1:1")
    member = kind_kubeconfig(tmp_path / "member", "nimbusguard-member", "https://127.0.0.1:2")
    target = tmp_path / "merged"

    support.merge_kubeconfigs({"hub": hub, "member": member}, target)

    merged = yaml.safe_load(target.read_text())
    assert merged["current-context"] == "hub"
    assert [c["name"] for c in merged["contexts"]] == ["hub", "member"]
    member_cluster = next(c for c in merged["clusters"] if c["name"] == "member")
    assert member_cluster["cluster"]["server"] == "https://127.0.0.1:2"
    member_user = next(u for u in merged["users"] if u["name"] == "member")
    assert member_user["user"]["token"] == "token-nimbusguard-member"


def test_namespace_names_are_fresh_dns_labels() -> None:
    long_name = "test_api_server_rejects_invalid_policies[Target-Namespace_Without_Cluster]" * 2

    first, second = support.namespace_name(long_name), support.namespace_name(long_name)

    assert first != second
    for name in (first, second):
        assert len(name) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name

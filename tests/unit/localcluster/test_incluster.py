"""What hack/incluster.py hands the operator's Pod: a kubeconfig it can use from the node;
and when it stops waiting for the Pod."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from hack import incluster

CA = {"certificate-authority-data": "Q0E="}
KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {"name": "c-hub", "cluster": {"server": "https://127.0.0.1:30001", **CA}},
        {"name": "c-member", "cluster": {"server": "https://127.0.0.1:30002", **CA}},
    ],
    "users": [{"name": "admin", "user": {"client-certificate-data": "Y2VydA=="}}],
    "contexts": [
        {"name": "hub", "context": {"cluster": "c-hub", "user": "admin"}},
        {"name": "member", "context": {"cluster": "c-member", "user": "admin"}},
    ],
    "current-context": "hub",
}  # fmt: skip


def test_the_member_is_reached_at_10_0_0_1_with_the_token_only(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    config = yaml.safe_load(incluster.member_kubeconfig(path, "member", "t0ken"))
    assert config["current-context"] == "member"
    (cluster,) = config["clusters"]
    assert cluster == {
        "name": "member",
        "cluster": {"server": "https://10.0.0.1:30002", **CA},
    }
    assert config["users"] == [{"name": "member", "user": {"token": "t0ken"}}]
    assert config["contexts"] == [
        {"name": "member", "context": {"cluster": "member", "user": "member"}}
    ]
    # The source is not changed (the cluster entry is copied before its server is replaced).
    assert yaml.safe_load(path.read_text()) == KUBECONFIG


def test_a_token_kubeconfig_keeps_the_server_and_takes_the_name_given(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    config = yaml.safe_load(incluster.token_kubeconfig(path, "hub", "t", name="operator"))
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:30001"
    assert config["current-context"] == "operator"


def _pod(reason: str, restarts: int) -> Any:
    status = SimpleNamespace(
        state=SimpleNamespace(waiting=SimpleNamespace(reason=reason)), restart_count=restarts
    )
    return SimpleNamespace(
        metadata=SimpleNamespace(name="op", deletion_timestamp=None),
        status=SimpleNamespace(container_statuses=[status]),
    )


def test_a_restart_the_kubelet_caused_is_waited_out_a_crash_loop_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for reason, restarts, verdict in [
        ("CrashLoopBackOff", 1, None),  # the manager killed with a re-created sandbox
        ("CrashLoopBackOff", incluster.CRASH_LOOP_RESTARTS, "op: CrashLoopBackOff"),
        ("ErrImageNeverPull", 0, "op: ErrImageNeverPull"),
        ("ContainerCreating", 0, None),
    ]:
        pod = _pod(reason, restarts)
        monkeypatch.setattr(incluster, "pods", lambda _api, pod=pod: [pod])
        assert incluster.hopeless(None) == verdict, (reason, restarts)

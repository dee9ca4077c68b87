"""Failed starts: a clear error naming the component and its log, and nothing left running.

The "binaries" here are shell scripts, so these tests run without `make envtest`.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from hack.localcluster import (
    Binaries,
    ComponentError,
    LocalClusters,
    MissingBinaryError,
    PortInUseError,
    ports,
    process,
)
from hack.localcluster.binaries import CONTROL_PLANE


def fake_binaries(directory: Path, script: str) -> Binaries:
    """Every control-plane binary runs `script`; kwok gets one (empty) stage file."""
    directory.mkdir()
    for name in CONTROL_PLANE:
        path = directory / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
    (directory / "kwok-stages").mkdir()
    (directory / "kwok-stages" / "stage.yaml").write_text("")
    return Binaries(directory)


def start(binaries: Binaries, workdir: Path) -> LocalClusters:
    clusters = LocalClusters(("hub", "member"), binaries=binaries, workdir=workdir, timeout=1.0)
    clusters.start()
    return clusters


def assert_nothing_runs(clusters: LocalClusters) -> None:
    statuses = clusters.status()
    assert statuses, "no component was started"
    for status in statuses:
        assert status.pid is not None
        assert not status.running, status
        assert process.start_ticks(status.pid) is None, status


def test_a_server_that_never_becomes_healthy(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", "exec sleep 600")
    clusters = LocalClusters(
        ("hub", "member"), binaries=binaries, workdir=tmp_path / "w", timeout=1
    )
    handler = signal.getsignal(signal.SIGTERM)

    with pytest.raises(ComponentError) as failed:
        clusters.start()

    message = str(failed.value)
    assert message.startswith("etcd of cluster hub: not healthy after 1s")
    assert failed.value.log_path == tmp_path / "w" / "hub" / "logs" / "etcd.log"
    assert str(failed.value.log_path) in message
    assert failed.value.log_path.exists()  # kept, so the message can be followed
    assert_nothing_runs(clusters)
    assert signal.getsignal(signal.SIGTERM) == handler


def test_a_server_that_exits(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", 'echo "flag provided but not defined" >&2; exit 3')

    with pytest.raises(ComponentError) as failed:
        start(binaries, tmp_path / "w")

    assert "of cluster hub: exited with code 3" in str(failed.value)
    assert "flag provided but not defined" in failed.value.log_tail


def test_a_port_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binaries = fake_binaries(tmp_path / "bin", "exec sleep 600")
    with socket.socket() as squatter:
        squatter.bind((ports.LOOPBACK, 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        real_free_ports = ports.free_ports
        monkeypatch.setattr(
            ports, "free_ports", lambda count: [busy, *real_free_ports(count - 1, exclude={busy})]
        )

        with pytest.raises(PortInUseError) as taken:
            start(binaries, tmp_path / "w")

    assert str(taken.value).startswith(f"etcd of cluster hub: port 127.0.0.1:{busy} is already")
    assert "hub/logs/etcd.log" in str(taken.value)


def test_a_missing_binary_is_named_before_anything_starts(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", "exit 0")
    (tmp_path / "bin" / "kube-scheduler").unlink()
    workdir = tmp_path / "w"

    with pytest.raises(
        MissingBinaryError, match=r"kube-scheduler: binary not found .*make envtest"
    ):
        start(binaries, workdir)

    assert not workdir.exists()


def test_metrics_server_is_required_only_when_asked_for(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", "exit 0")
    clusters = LocalClusters(binaries=binaries, metrics_server=True, workdir=tmp_path / "w")

    with pytest.raises(MissingBinaryError, match="metrics-server"):
        clusters.start()


def test_a_foreign_non_empty_workdir_is_refused(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", "exit 0")
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "precious.txt").write_text("keep me")

    with pytest.raises(Exception, match="not empty and was not made by localcluster"):
        start(binaries, workdir)

    assert (workdir / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("names", "message"),
    [((), "at least one"), (("hub", "hub"), "unique"), (("Hub",), "bad cluster name")],
)
def test_bad_cluster_names(names: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalClusters(names)

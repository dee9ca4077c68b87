"""The CLI's answers when there is nothing to do or something is wrong: one line, no trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.localcluster import __main__ as cli


def test_down_with_nothing_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--workdir", str(tmp_path), "down"]) == 0
    assert "nothing running" in capsys.readouterr().err


def test_status_with_nothing_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--workdir", str(tmp_path), "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("localcluster: error: no local clusters recorded in")
    assert "Traceback" not in err


def test_up_with_a_bad_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--workdir", str(tmp_path), "up", "--names", "hub,Member"]) == 1
    assert "bad cluster name 'Member'" in capsys.readouterr().err


def test_up_without_binaries_says_how_to_build_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("NIMBUSGUARD_CACHE", str(tmp_path / "empty-cache"))

    assert cli.main(["--workdir", str(tmp_path / "w"), "up"]) == 1

    err = capsys.readouterr().err
    assert "lacks: kube-apiserver" in err
    assert "make envtest" in err
    assert len(err.strip().splitlines()) == 1


def test_default_workdir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIMBUSGUARD_LOCALCLUSTER_DIR", "/somewhere/else")
    assert cli.default_workdir() == Path("/somewhere/else")

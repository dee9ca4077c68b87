"""`nimbusguard member-rbac` prints the RoleBindings the grants imply for one member."""

from __future__ import annotations

import io

import pytest
import yaml

from nimbusguard import cli


def test_member_rbac_from_a_config_map_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    grants = {"kind": "ConfigMap", "data": {"team-a": "prod-eu/legacy, prod-us/other, bad"}}
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(grants)))
    code = cli.main(
        ["member-rbac", "--cluster", "prod-eu", "--grants", "-", "--namespace", "team-a"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    bindings = list(yaml.safe_load_all(out))
    assert [b["metadata"]["namespace"] for b in bindings] == ["legacy", "team-a"]
    assert "ignoring entry 'bad'" in err


def test_member_rbac_refuses_a_bad_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["member-rbac", "--cluster", "c", "--namespace", "Not_A_Name"]) == 2
    assert "not a namespace name" in capsys.readouterr().err

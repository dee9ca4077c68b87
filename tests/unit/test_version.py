"""`nimbusguard --version` names the installed distribution's version."""

from __future__ import annotations

import pytest

from nimbusguard import cli, version


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == version.describe()
    assert version.version() != "unknown"

"""The `nimbusguard` command line: `--version`, and only product sub-commands."""

from __future__ import annotations

import pytest

from nimbusguard import cli, version


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == version.describe()
    assert version.version() != "unknown"


def test_manifests_is_not_a_product_command() -> None:
    # Generating the CRD is a repository job (`make manifests`, python -m api.generate).
    assert "manifests" not in cli.COMMAND_MODULES
    with pytest.raises(SystemExit):
        cli.main(["manifests"])

"""What the operator image holds, without a container engine: the Dockerfile's shape, and its
entry point run from the wheel built out of exactly the files the Dockerfile copies, installed
with its dependencies into a fresh virtualenv."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.unit.packaging.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _stages() -> list[list[str]]:
    """Instructions of each stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _copied_paths() -> list[str]:
    """What the builder stage COPYs from the build context."""
    paths: list[str] = []
    for line in _stages()[0]:
        if line.startswith("COPY ") and "--from" not in line:
            paths.extend(line.split()[1:-1])
    return paths


def _entrypoint() -> list[str]:
    (line,) = [ln for ln in _stages()[-1] if ln.startswith("ENTRYPOINT ")]
    command: list[str] = json.loads(line.removeprefix("ENTRYPOINT "))
    return command


def test_the_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert re.search(r"python:3\.11-slim", DOCKERFILE.read_text())
    copies = [ln for ln in final if ln.startswith("COPY ")]
    assert copies and all("--from=builder" in ln for ln in copies), "final stage copies sources"
    assert not [ln for ln in final if ln.startswith("RUN ")], "final stage must not run installers"
    (user,) = [ln for ln in final if ln.startswith("USER ")]
    uid, _, gid = user.split()[1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())
    assert _entrypoint() == ["nimbusguard", "run"]
    builder = " ".join(stages[0])
    assert "pip uninstall --yes pip setuptools" in builder


def test_dockerignore_admits_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    for path in _copied_paths():
        assert f"!{path.rstrip('/')}/" in ignore or f"!{path}" in ignore, path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel (built from the Dockerfile's COPYs) and its deps."""
    context = tmp_path_factory.mktemp("context")
    for path in _copied_paths():
        source = ROOT / path
        if source.is_dir():
            shutil.copytree(source, context / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / path)
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
         str(context)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=900,
    )  # fmt: skip
    (env_dir / "wheel-name").write_text(str(wheel))
    return env_dir


def _run(
    env_dir: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command, *rest = _entrypoint()
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ["PATH"] = f"{env_dir / 'bin'}:/usr/bin:/bin"
    environ.update(extra_env or {})
    return subprocess.run(
        [str(env_dir / "bin" / command), *rest, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=env_dir,  # not the repository: imports must come from the installed wheel
        env=environ,
    )


def test_the_wheel_carries_the_three_packages_and_nothing_else(installed: Path) -> None:
    wheel = Path((installed / "wheel-name").read_text())
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    packages = {t for t in tops if not t.endswith(".dist-info")}
    assert packages == {"api", "controllers", "nimbusguard"}
    probe = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import api.v1, controllers.manager, nimbusguard.cli as c; print(c.__file__)"],
        capture_output=True, text=True, check=True, cwd=installed,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(installed))


def test_the_entry_point_runs_from_the_installed_wheel(installed: Path) -> None:
    done = _run(installed, "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--bind-address", "--leader-elect", "--member-kubeconfig", "--log-level"):
        assert flag in done.stdout


@pytest.mark.parametrize(
    ("args", "environ"),
    [(["--log-level", "bogus"], {}), ([], {"NIMBUSGUARD_LOG_LEVEL": "bogus"})],
    ids=["flag", "environment"],
)
def test_a_bad_log_level_exits_2_with_one_clear_line(
    installed: Path, args: list[str], environ: dict[str, str]
) -> None:
    done = _run(installed, *args, extra_env=environ)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "log-level" in lines[0] and "bogus" in lines[0].lower()
    assert "Traceback" not in done.stderr

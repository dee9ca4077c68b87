"""The operator image as built by `make docker-build`, run with podman: the Dockerfile's
promises (entry point, non-root numeric user, read-only root, no pip, no compilers) hold in
the real image, not only in the unit tests' reading of the Dockerfile."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e import operator_image

RUNTIME_UID = 65532


@pytest.fixture(scope="module")
def image() -> str:
    return operator_image.built()


def test_the_entry_point_answers_help_on_a_read_only_root(image: str) -> None:
    done = operator_image.podman_run(image, "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--bind-address", "--leader-elect", "--member-kubeconfig", "--log-level"):
        assert flag in done.stdout


def test_it_runs_as_the_numeric_non_root_user_and_cannot_write_its_root(image: str) -> None:
    script = (
        "import getpass, os, pathlib\n"
        "print(os.getuid(), os.getgid(), getpass.getuser())\n"
        "try:\n"
        "    pathlib.Path('/opt/nimbusguard/probe').write_text('x')\n"
        "    print('writable')\n"
        "except OSError as error:\n"
        "    print('errno', error.errno)\n"
    )
    done = operator_image.podman_run(image, "-c", script, entrypoint="python")
    assert done.returncode == 0, done.stderr
    ids, outcome = done.stdout.split("\n")[:2]
    # A named user: kopf calls getpass.getuser(), which fails for a UID without a passwd entry.
    assert ids == f"{RUNTIME_UID} {RUNTIME_UID} nonroot"
    assert outcome == "errno 30", outcome  # EROFS: the root filesystem is read-only
    inspected = subprocess.run(
        ["podman", "image", "inspect", image], capture_output=True, text=True, check=True
    )
    config = json.loads(inspected.stdout)[0]["Config"]
    assert config["User"] == f"{RUNTIME_UID}:{RUNTIME_UID}"
    assert config["Entrypoint"] == ["nimbusguard", "run"]


def test_it_holds_no_installer_and_no_compiler(image: str) -> None:
    script = (
        "import importlib.util, shutil\n"
        "print(importlib.util.find_spec('pip') is None)\n"
        "print(sorted(t for t in ('pip', 'pip3', 'gcc', 'cc', 'c++', 'make')"
        " if shutil.which(t, path='/opt/nimbusguard/bin:/usr/local/bin:/usr/bin:/bin')))\n"
    )
    done = operator_image.podman_run(image, "-c", script, entrypoint="python")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True", "[]"]

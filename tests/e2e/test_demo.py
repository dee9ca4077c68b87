"""`make demo` works: its script brings everything up, scales the workload, cleans up."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.e2e.support import ROOT

PATTERN = (
    "kube-apiserver|kube-controller-manager|kube-scheduler|etcd|kwok|prometheus|nimbusguard.cli"
)


def _pids() -> set[str]:
    found = subprocess.run(["pgrep", "-f", PATTERN], capture_output=True, text=True, check=False)
    return set(found.stdout.split())


def test_the_demo_scales_the_member_workload_and_cleans_up() -> None:
    before = _pids()
    result = subprocess.run(
        [sys.executable, "-m", "hack.demo", "--duration", "45"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    for step in range(1, 8):
        assert f"[{step}/7]" in out
    # Not a TTY here, so the view prints one line per refresh.
    replicas = [int(m) for m in re.findall(r"replicas=(\d+)", out)]
    assert replicas and max(replicas) > 2, out[-2000:]
    assert re.search(r"phase=(Learning|Active)", out)
    assert "decision=scale_up" in out
    assert out.rstrip().endswith("demo: everything stopped and removed")
    # Nothing it started is left running.
    assert _pids() <= before

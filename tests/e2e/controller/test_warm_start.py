"""`nimbusguard train` → a ConfigMap → a policy that warm-starts from it, on a real cluster."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from api.v1 import scalingpolicy_types as types
from nimbusguard.workflow import runtime
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario


def test_a_policy_warm_starts_from_a_trained_q_table(
    e2e_clusters: support.E2EClusters, scenario: Scenario, tmp_path: Path
) -> None:
    api, ns = scenario.api, scenario.ns
    # Six hours of a daily-ish wave with noise, one row per 15 s.
    rng = np.random.default_rng(7)
    rows = [10 + 6 * math.sin(i / 240) + rng.normal(0, 0.5) for i in range(6 * 240)]
    trace = tmp_path / "load.csv"
    trace.write_text("load\n" + "\n".join(f"{v:.3f}" for v in rows) + "\n")
    table = tmp_path / "qtable.npz"
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "nimbusguard.cli",
            "train",
            "--trace",
            str(trace),
            "--column",
            "load",
            "--trace-interval-seconds",
            "15",
            "--episodes",
            "1",
            "--out",
            str(table),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr
    e2e_clusters.kubectl(
        e2e_clusters.hub_context,
        "create",
        "configmap",
        "pretrained",
        "-n",
        ns,
        f"--from-file=qtable.npz={table}",
    )
    spec = types.ScalingPolicySpec.model_validate(
        {
            "target": {"name": "warm"},
            "scaling": {"maxReplicas": 10},
            "metrics": {"cpu": {"targetUtilization": 50}},
        }
    )
    updates = runtime.restore_learner("x/y", spec, table.read_bytes(), warm_start=True).updates
    assert updates > 0

    scenario.deployment("warm", 2)
    scenario.demand(2)
    body: dict[str, Any] = h.policy_body(
        "warm",
        "warm",
        query=h.demand_query(scenario.series),
        prometheus_url=scenario.prometheus.url,
    )
    body["spec"]["aiConfig"] = {"qLearning": {"warmStart": {"configMapName": "pretrained"}}}
    h.create_policy(api, ns, body)
    scenario.operator()

    h.wait_condition(api, ns, "warm", "QTableLoaded", reason="WarmStarted")
    learning = h.status(api, ns, "warm")["learning"]
    assert learning["updates"] >= updates
    # A warm start still has to beat the baseline on this workload before it acts.
    assert h.status(api, ns, "warm")["phase"] == "Learning"

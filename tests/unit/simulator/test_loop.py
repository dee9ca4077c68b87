"""The simulator's loop is the operator's: same observations, same decisions.

The workflow's compiled graph (observe → decide → act → reward → learn, with the
target and the metric faked) and the simulator's `OperatorLoop` are driven through the same
observations, each with its own HPA baseline and a learner built from the same spec and seed.
Every evaluation must end with the same replicas and the same mode, through learning, promotion
and cooldowns.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any

import numpy as np
import pytest

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import workloads
from nimbusguard.scaling import hpa, learner as learner_mod
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import loop, model
from nimbusguard.workflow import graph, runtime, state as st
from tests.unit.slow_target import SlowTarget

SPEC = types.ScalingPolicySpec.model_validate(
    {
        "target": {"name": "web"},
        "scaling": {
            "minReplicas": 1,
            "maxReplicas": 30,
            "cooldownPeriod": 90,
            "scaleUpCooldown": 60,
            "evaluationInterval": 30,
        },
        "metrics": {"cpu": {"targetUtilization": 50}},
        "aiConfig": {"promotion": {"windows": 1, "windowDecisions": 5}},
    }
)
START = 1_800_000_000.0
COMPILED = graph.build()


def _demand(n: int) -> list[float]:
    rng = np.random.default_rng(3)
    t = np.arange(n)
    level = 6.0 + 4.0 * np.sin(2 * np.pi * t / 120.0) + 3.0 * (t % 200 > 150)
    return [float(x) for x in level * (1.0 + rng.normal(0.0, 0.08, n))]


async def test_workflow_and_simulator_decide_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = SlowTarget(4)
    monkeypatch.setattr(workloads, "read", cluster.read)
    monkeypatch.setattr(workloads, "scale", cluster.scale)
    key = "ns/web"
    rt = runtime.PolicyRuntime.create(key, SPEC)
    rt.learner_ready = True
    source: Any = type("Source", (), {"name": "fake", "read": staticmethod(cluster.metric)})()

    async def record(intent: st.Intent) -> bool:
        return True

    ctx = st.EvaluationContext(
        target=workloads.TargetRef("Deployment", "web", "ns"),
        api="api",
        api_error=None,
        sources=[source],
        runtime=rt,
        record_intent=record,
    )
    settings = model.ModelSettings(
        max_replicas=30,
        step_seconds=30.0,
        evaluation_interval_seconds=30.0,
        scale_up_cooldown_seconds=60.0,
        scale_down_cooldown_seconds=90.0,
    )
    brain = learner_mod.QLearner(
        runtime.learner_config(SPEC),
        np.random.default_rng(runtime._seed(key)),
    )
    simulated = loop.OperatorLoop("q", settings, hpa.HPAConfig.from_spec(SPEC.scaling), brain)
    last_scaling: float | None = None
    modes: set[str] = set()
    for i, demand in enumerate(_demand(400)):
        now = START + 30.0 * i
        cluster.advance(i, demand)
        inp = st.EvaluationInput(key, SPEC, now, f"e{i}", True, last_scaling)
        final = await graph.run(COMPILED, inp, ctx)
        decision = final["decision"]
        hour = datetime.datetime.fromtimestamp(now, datetime.UTC)
        obs = Observation(
            time=now,
            replicas=cluster.replicas,
            ready_replicas=cluster.ready,
            utilization=cluster.utilization,
            pending_replicas=cluster.replicas - cluster.ready,
            time_of_day=hour.hour + hour.minute / 60.0,
        )
        replicas = simulated.decide(i, obs)
        assert (replicas, simulated.modes[-1]) == (decision.to_replicas, decision.mode), i
        if decision.to_replicas != cluster.replicas:
            cluster.set(i, decision.to_replicas)
            last_scaling = now
        modes.add(decision.mode)
        if i == 200:  # promote both alike and keep them Active: the learner acting is covered
            for tracker in (brain.promotion, rt.learner.promotion):
                tracker.phase, tracker.violation_limit = "Active", None
                tracker.config = dataclasses.replace(tracker.config, demotion_margin=1e9)
    # The comparison covered the learner acting and the cooldown holding, not only the HPA.
    assert {"baseline", "cooldown"} <= modes
    assert modes & {"exploit", "explore"}
    assert math.isclose(brain.slo_price, rt.learner.slo_price)
    assert brain.updates == rt.learner.updates > 0

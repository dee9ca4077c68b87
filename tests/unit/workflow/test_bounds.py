"""Invariants over every input: decisions stay within [min, max]; extreme specs are handled."""

from __future__ import annotations

from hypothesis import given, settings, strategies as hs

from api.v1 import scalingpolicy_types as types
from nimbusguard.scaling import hpa, observation
from tests.unit.workflow.test_graph import FakeCluster, FakeSource, _run


@given(
    lo=hs.integers(0, 50),
    span=hs.integers(0, 50),
    current=hs.integers(0, 200),
    ready_share=hs.floats(0, 1),
    utilization=hs.floats(0, 50, allow_nan=False),
    steps=hs.integers(1, 5),
)
def test_the_baseline_never_leaves_the_bounds(
    lo: int, span: int, current: int, ready_share: float, utilization: float, steps: int
) -> None:
    hi = lo + span
    base = hpa.HPABaseline(hpa.HPAConfig(min_replicas=lo, max_replicas=hi))
    for i in range(steps):
        obs = observation.Observation(
            time=15.0 * i,
            replicas=current,
            ready_replicas=int(current * ready_share),
            utilization=utilization,
        )
        rec = base.recommend(obs)
        if current == 0 and lo > 0:
            continue  # scaled to 0 by hand: the HPA keeps its hands off (as Kubernetes does)
        assert lo <= rec.replicas <= hi or rec.replicas == current == 0


BOUNDS = types.ScalingPolicySpec.model_validate(
    {
        "target": {"name": "web"},
        "scaling": {
            "minReplicas": 0,
            "maxReplicas": 10000,
            "cooldownPeriod": 86400,
            "evaluationInterval": 3600,
            "behavior": {
                "tolerance": 0.99,
                "scaleUp": {
                    "stabilizationWindowSeconds": 3600,
                    "maxPods": 1000,
                    "maxPercent": 1000,
                },
                "scaleDown": {"stabilizationWindowSeconds": 0, "maxPods": 1, "maxPercent": 1},
            },
        },
        "metrics": {
            "prometheus": {
                "serverAddress": "http://p",
                "query": "q",
                "targetValue": 1e-9,
                "timeoutSeconds": 60,
            }
        },
        "aiConfig": {
            "decisionHorizonSeconds": 0,
            "qLearning": {
                "learningRate": 1.0,
                "discountFactor": 0.0,
                "epsilonStart": 0.0,
                "epsilonEnd": 0.0,
                "epsilonDecayDecisions": 1,
            },
            "promotion": {"windows": 1, "windowDecisions": 1, "demotionMargin": 0},
        },
    }
)


@settings(max_examples=25, deadline=None)
@given(utilization=hs.floats(0, 1e6, allow_nan=False), replicas=hs.integers(0, 20000))
async def test_specs_at_their_bounds_evaluate_without_errors(
    utilization: float, replicas: int
) -> None:
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        from nimbusguard.clients import workloads

        fake = FakeCluster(replicas=replicas)
        mp.setattr(workloads, "read", fake.read)
        mp.setattr(workloads, "scale", fake.scale)
        from nimbusguard.workflow import runtime

        rt = runtime.PolicyRuntime.create("ns/web", BOUNDS)
        rt.learner_ready = True
        for step in range(3):
            final, _ = await _run(
                sources_=[FakeSource(utilization)], spec=BOUNDS, rt=rt, now=1e9 + step
            )
            decision = final["decision"]
            assert 0 <= decision.to_replicas <= max(10000, replicas)
            assert 0.0 <= decision.confidence <= 1.0

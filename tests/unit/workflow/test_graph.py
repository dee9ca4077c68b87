"""The evaluation graph's routing and acting, with the target and metrics faked."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import errors, sources, workloads
from nimbusguard.workflow import graph, runtime, state as st

SPEC = types.ScalingPolicySpec.model_validate(
    {
        "target": {"name": "web"},
        "scaling": {"minReplicas": 1, "maxReplicas": 10, "cooldownPeriod": 60},
        "metrics": {"cpu": {"targetUtilization": 50}},
    }
)
NOW = 1_800_000_000.0


@dataclasses.dataclass
class FakeSource:
    utilization: float | None
    name: str = "fake"

    async def read(self, target: workloads.TargetState) -> sources.Reading:
        if self.utilization is None:
            raise errors.MetricError("no samples")
        return sources.Reading(self.name, self.utilization, self.utilization, "fake detail")


class FakeCluster:
    """Stands in for the workload calls of `nimbusguard.clients.workloads`."""

    def __init__(self, replicas: int, ready: int | None = None) -> None:
        self.replicas = replicas
        self.ready = replicas if ready is None else ready
        self.scaled: list[int] = []
        self.read_error: errors.ClientError | None = None

    async def read(self, api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
        if self.read_error is not None:
            raise self.read_error
        return workloads.TargetState(self.replicas, self.ready, self.replicas, "app=web", True)

    async def scale(self, api: Any, ref: workloads.TargetRef, replicas: int) -> workloads.Scaled:
        self.scaled.append(replicas)
        self.replicas = replicas
        return workloads.Scaled(replicas, None)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster(replicas=4)
    monkeypatch.setattr(workloads, "read", fake.read)
    monkeypatch.setattr(workloads, "scale", fake.scale)
    return fake


COMPILED = graph.build()
NO_API: Any = None


async def _run(
    *,
    sources_: list[FakeSource],
    spec: types.ScalingPolicySpec = SPEC,
    may_act: bool = True,
    intent_ok: bool = True,
    last_scaling: float | None = None,
    rt: runtime.PolicyRuntime | None = None,
    now: float = NOW,
    api: Any = "api",
) -> tuple[st.EvaluationState, list[st.Intent]]:
    intents: list[st.Intent] = []

    async def record(intent: st.Intent) -> bool:
        intents.append(intent)
        return intent_ok

    ctx = st.EvaluationContext(
        target=workloads.TargetRef("Deployment", "web", "ns"),
        api=api,
        api_error=None if api is not None else errors.ClusterUnreachableError("down"),
        sources=sources_,
        runtime=rt or runtime.PolicyRuntime.create("ns/web", spec),
        record_intent=record,
    )
    inp = st.EvaluationInput(
        policy="ns/web",
        spec=spec,
        now=now,
        evaluation_id="e1",
        may_act=may_act,
        last_scaling_time=last_scaling,
    )
    final = await graph.run(COMPILED, inp, ctx)
    return final, intents


async def test_scales_up_with_the_hpa_formula(cluster: FakeCluster) -> None:
    final, intents = await _run(sources_=[FakeSource(2.0)])
    assert final["decision"].to_replicas == 8
    assert final["decision"].mode == "baseline"
    assert final["scaled_to"] == 8
    assert cluster.scaled == [8]
    assert [(i.from_replicas, i.to_replicas) for i in intents] == [(4, 8)]


async def test_within_tolerance_holds_without_acting(cluster: FakeCluster) -> None:
    final, intents = await _run(sources_=[FakeSource(1.05)])
    assert final["decision"].action == "hold"
    assert intents == [] and cluster.scaled == []


async def test_the_cooldown_holds_and_says_until_when(cluster: FakeCluster) -> None:
    final, intents = await _run(sources_=[FakeSource(2.0)], last_scaling=NOW - 20)
    decision = final["decision"]
    assert (decision.action, decision.mode, decision.to_replicas) == ("hold", "cooldown", 4)
    assert "40s left" in decision.reasoning
    assert cluster.scaled == [] and intents == []


async def test_no_scale_when_the_intent_cannot_be_recorded(cluster: FakeCluster) -> None:
    final, intents = await _run(sources_=[FakeSource(2.0)], intent_ok=False)
    assert len(intents) == 1
    assert cluster.scaled == []
    assert "scaled_to" not in final


async def test_a_policy_that_may_not_act_decides_but_does_not_scale(cluster: FakeCluster) -> None:
    final, intents = await _run(sources_=[FakeSource(2.0)], may_act=False)
    assert final["decision"].to_replicas == 8
    assert cluster.scaled == [] and intents == []


async def test_target_errors_skip_to_report(cluster: FakeCluster) -> None:
    cluster.read_error = errors.ApiError(404, "gone")
    final, _ = await _run(sources_=[FakeSource(2.0)])
    assert isinstance(final["error"], errors.ApiError)
    assert "decision" not in final


async def test_an_unbuilt_client_is_reported_not_raised(cluster: FakeCluster) -> None:
    final, _ = await _run(sources_=[FakeSource(2.0)], api=NO_API)
    assert isinstance(final["error"], errors.ClusterUnreachableError)


async def test_paused_observes_only(cluster: FakeCluster) -> None:
    paused = SPEC.model_copy(update={"paused": True})
    final, _ = await _run(sources_=[FakeSource(2.0)], spec=paused)
    assert final["target"].replicas == 4
    assert "decision" not in final and "reading" not in final


async def test_fallback_ladder_over_time(cluster: FakeCluster) -> None:
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    broken = [FakeSource(None), FakeSource(0.5, name="cpu")]
    first, _ = await _run(sources_=broken, rt=rt)
    assert first["decision"].mode == "fallback"
    assert first["fallback_rung"] == "hold" and cluster.scaled == []
    assert "no samples" in first["metric_error"]
    # After the grace period (the cooldown, 60 s) the secondary metric drives the HPA formula.
    later, _ = await _run(sources_=broken, rt=rt, now=NOW + 61)
    assert later["fallback_rung"] == "secondary"
    assert later["decision"].to_replicas == 2
    assert cluster.scaled == [2]
    # The primary comes back: normal decisions again, and the failure clock is reset.
    back, _ = await _run(sources_=[FakeSource(1.0)], rt=rt, now=NOW + 70)
    assert back["decision"].mode == "baseline"
    assert rt.metric_failing_since is None


async def test_invalid_metric_values_never_reach_a_decision(cluster: FakeCluster) -> None:
    final, _ = await _run(sources_=[FakeSource(-1.0)])
    assert "observation" not in final
    assert "invalid value" in final["metric_error"]


async def test_the_learner_learns_behind_the_baseline(cluster: FakeCluster) -> None:
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    rt.learner_ready = True
    first, _ = await _run(sources_=[FakeSource(2.0)], rt=rt)
    decision = first["decision"]
    # Learning: the HPA formula acts, and the decision explains what the learner would do.
    assert (decision.mode, decision.to_replicas) == ("baseline", 8)
    assert "learning, so the HPA formula acted" in decision.reasoning
    assert "the learner would keep headroom" in decision.reasoning
    assert "forecast" in decision.reasoning and "price λ" in decision.reasoning
    assert first["choice"].mode == "baseline"
    assert "learned" not in first
    # Once a decision's consequences are in (one startup horizon later), it is scored and
    # learned from; the table becomes dirty (to be persisted).
    updates = rt.learner.updates
    for step in range(1, 6):
        later, _ = await _run(
            sources_=[FakeSource(1.0)], rt=rt, now=NOW + 20 * step, last_scaling=NOW
        )
    assert later["judgements"]
    assert rt.learner.updates > updates
    assert later["learned"].baseline_reward is not None
    assert rt.dirty


async def test_a_learner_not_ready_is_left_alone(cluster: FakeCluster) -> None:
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    for step in range(4):
        final, _ = await _run(sources_=[FakeSource(1.0)], rt=rt, now=NOW + 30 * step)
        assert "choice" not in final and "judgements" not in final
    assert rt.learner.decisions == 0
    assert not rt.dirty


# The graph's paths, as (sources, options of `_run`). A path with an observation must leave it
# in the policy's runtime for the next evaluation's reward; one without keeps the last.
PATHS_WITH_AN_OBSERVATION: dict[str, tuple[list[FakeSource], dict[str, Any]]] = {
    "scale": ([FakeSource(2.0)], {}),
    "hold": ([FakeSource(1.05)], {}),
    "cooldown": ([FakeSource(2.0)], {"last_scaling": NOW - 20}),
    "may not act": ([FakeSource(2.0)], {"may_act": False}),
    "intent not recorded": ([FakeSource(2.0)], {"intent_ok": False}),
}
PATHS_WITHOUT: dict[str, tuple[list[FakeSource], dict[str, Any]]] = {
    "target error": ([FakeSource(2.0)], {}),
    "paused": ([FakeSource(2.0)], {"spec": SPEC.model_copy(update={"paused": True})}),
    "no client": ([FakeSource(2.0)], {"api": NO_API}),
    "fallback holds": ([FakeSource(None)], {}),
    "fallback acts": ([FakeSource(None), FakeSource(0.5, name="cpu")], {}),
}


@pytest.mark.parametrize("learner_ready", [False, True])
@pytest.mark.parametrize("path", PATHS_WITH_AN_OBSERVATION)
async def test_every_path_with_an_observation_remembers_it(
    cluster: FakeCluster, path: str, learner_ready: bool
) -> None:
    sources_, options = PATHS_WITH_AN_OBSERVATION[path]
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    rt.learner_ready = learner_ready
    final, _ = await _run(sources_=sources_, rt=rt, **options)
    assert rt.previous is not None
    assert rt.previous is final["observation"]


@pytest.mark.parametrize("path", PATHS_WITHOUT)
async def test_a_path_without_an_observation_keeps_the_last_one(
    cluster: FakeCluster, path: str
) -> None:
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    await _run(sources_=[FakeSource(1.0)], rt=rt, now=NOW - 30)
    remembered = rt.previous
    assert remembered is not None
    sources_, options = PATHS_WITHOUT[path]
    if path == "target error":
        cluster.read_error = errors.ApiError(500, "boom")
    if path == "fallback acts":  # past the grace period (the cooldown, 60 s)
        rt.metric_failing_since = NOW - 61
    final, _ = await _run(sources_=sources_, rt=rt, **options)
    assert "observation" not in final
    assert rt.previous is remembered
    if path == "fallback acts":
        assert final["scaled_to"] == 2


async def test_the_target_read_is_timed_when_it_succeeds(cluster: FakeCluster) -> None:
    """The reconciler times the next evaluation from it (controllers/reconciler.py)."""
    rt = runtime.PolicyRuntime.create("ns/web", SPEC)
    before = time.monotonic()
    await _run(sources_=[FakeSource(1.0)], rt=rt)
    assert rt.read_at is not None and before <= rt.read_at <= time.monotonic()
    read_at = rt.read_at
    cluster.read_error = errors.ApiError(500, "boom")
    await _run(sources_=[FakeSource(1.0)], rt=rt)
    assert rt.read_at == read_at  # a failed read is not a read

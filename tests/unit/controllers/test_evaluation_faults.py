"""Bad input inside an evaluation: a condition and the fallback, never a frozen status."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controllers import claims, reconciler
from nimbusguard.clients import errors, resource_metrics, workloads
from nimbusguard.scaling import promotion
from tests.unit.controllers import harness


def _condition(w: harness.World, kind: str) -> dict[str, Any]:
    conditions = w.hub.live()["status"]["conditions"]
    found: dict[str, Any] = next(c for c in conditions if c["type"] == kind)
    return found


@pytest.mark.parametrize(
    "bad",
    [1e308, KeyError("usage"), RecursionError("maximum recursion depth exceeded")],
    ids=["1e308", "KeyError", "RecursionError"],
)
async def test_a_metric_that_breaks_the_math_is_an_unavailable_metric(
    monkeypatch: pytest.MonkeyPatch, bad: float | BaseException
) -> None:
    w = harness.world(monkeypatch, obj=harness.body(fallbackReplicas=5))
    await w.adopt()
    w.metric.utilization = bad
    for _ in range(15):  # 75 s: past the grace period (the 60 s cooldown)
        await w.evaluate()
        w.clock.now += 5
    assert _condition(w, "MetricsAvailable")["status"] == "False"
    assert _condition(w, "Fallback")["status"] == "True"
    assert [(f, t) for _, f, t in w.target.scales] == [(2, 5)]  # the fallback floor


def test_a_metrics_item_without_usage_is_not_counted() -> None:
    pod = _pod("web-1")
    items = [{"metadata": {"name": "web-1"}, "containers": [{"name": "app"}]}]
    with pytest.raises(errors.MetricError):
        resource_metrics.utilization([pod], items)


async def _closed(api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
    raise RuntimeError("Session is closed")


async def test_any_exception_in_an_evaluation_becomes_ready_false_and_an_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()

    await w.rec.run_once(harness.UID)
    assert _condition(w, "Ready")["status"] == "True"
    monkeypatch.setattr(workloads, "read", _closed)
    delays = [await w.rec.run_once(harness.UID) for _ in range(8)]
    ready = _condition(w, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "EvaluationFailed")
    assert "RuntimeError" in ready["message"] and "Session is closed" in ready["message"]
    assert [e for e in w.events if e[1] == "EvaluationFailed"]
    # Backs off, never stops: a bounded, growing delay.
    assert delays == sorted(delays) and 0 < delays[-1] <= 60
    monkeypatch.setattr(workloads, "read", w.target.read)
    await w.rec.run_once(harness.UID)
    assert _condition(w, "Ready")["status"] == "True"


async def test_fallback_never_raises_a_target_scaled_to_zero_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, replicas=0, obj=harness.body(fallbackReplicas=3))
    await w.adopt()
    w.metric.utilization = None  # no pods: the query answers an empty vector
    for _ in range(40):  # 200 s, over 3 grace periods
        await w.evaluate()
        w.clock.now += 5
    assert w.target.scales == []


async def test_scale_to_zero_with_an_active_learner_wakes_under_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, replicas=0, obj=harness.body(harness.PROMETHEUS, minReplicas=0))
    await w.adopt()
    rt = w.rec._memory[harness.UID].runtime
    rt.learner_ready = True
    rt.learner.promotion.phase = promotion.ACTIVE
    w.metric.utilization = 0.0
    for _ in range(3):  # idle at zero: stays at zero
        await w.evaluate()
        w.clock.now += 5
    assert w.target.scales == []
    w.metric.utilization = 4.0  # load: 4 replicas' worth, measured as one replica's
    for _ in range(2):
        await w.evaluate()
        w.clock.now += 5
    assert w.target.replicas >= 1, w.hub.live()["status"]["lastDecision"]


def _pod(name: str) -> Any:
    import types as pytypes

    ns = pytypes.SimpleNamespace
    return ns(
        metadata=ns(name=name, deletion_timestamp=None),
        status=ns(phase="Running", conditions=[ns(type="Ready", status="True")]),
        spec=ns(containers=[ns(name="app", resources=ns(requests={"cpu": "100m"}))]),
    )


async def test_a_policy_missed_by_the_watch_is_forgotten_with_its_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    old_claim = claims.Claim("2026-01-01T00:00:00Z", "shop", "web", harness.UID)
    new_claim = claims.Claim("2026-02-01T00:00:00Z", "shop", "web2", "uid-new")
    assert harness.UID in w.rec._memory
    w.rec.ownership.conflict(
        _policy(w, "uid-new"), lambda _: [old_claim, new_claim]
    )  # sees the claims
    listed_at = __import__("time").monotonic()
    assert await w.rec.sweep({"uid-new"}, listed_at) == 1
    assert harness.UID not in w.rec._memory
    # The stale claim in kopf's index no longer puts the new policy in Conflict.
    assert w.rec.ownership.conflict(_policy(w, "uid-new"), lambda _: [old_claim, new_claim]) is None


async def test_a_policy_first_seen_after_the_list_started_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    listed_at = __import__("time").monotonic() - 1
    await w.adopt()
    assert await w.rec.sweep(set(), listed_at) == 0
    assert harness.UID in w.rec._memory


async def test_a_zombie_never_writes_or_scales_a_recreated_policy_of_the_same_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    stale = w.policy_body()
    # Deleted and re-created under the same name while the watch was away.
    w.hub.obj["metadata"]["uid"] = "uid-new"
    w.hub.obj["status"] = {}
    writes = len(w.hub.writes)
    await w.rec.evaluate(stale, lambda _: [])
    assert w.target.scales == []
    assert len(w.hub.writes) == writes
    assert harness.UID not in w.rec._memory  # it found out and stopped


def _policy(w: harness.World, uid: str) -> Any:
    from api.v1 import scalingpolicy_types as types

    body = w.policy_body()
    body["metadata"]["uid"] = uid
    return types.ScalingPolicy.model_validate(body)


async def test_the_hpa_check_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()

    async def refused(api: Any, namespace: str, cluster: str | None) -> list[Any]:
        raise errors.ApiError(403, "HTTP 403: cannot list horizontalpodautoscalers")

    monkeypatch.setattr(workloads, "hpa_targets", refused)
    await w.evaluate()
    assert w.target.scales == []
    conflict, ready = _condition(w, "Conflict"), _condition(w, "Ready")
    assert (conflict["status"], conflict["reason"]) == ("Unknown", "ConflictCheckFailed")
    assert (ready["status"], ready["reason"]) == ("False", "ConflictCheckFailed")
    assert w.hub.live()["status"]["phase"] != "Error"


async def test_steady_state_writes_status_at_most_once_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, replicas=4)
    await w.adopt()
    w.metric.utilization = 1.02  # within tolerance: hold, every 5 s for 5 minutes
    for _ in range(60):
        await w.evaluate()
        w.clock.now += 5
    assert w.target.scales == []
    assert len(w.hub.writes) <= 6, len(w.hub.writes)  # 1 + one refresh a minute
    assert w.hub.live()["status"]["metrics"]["totalDecisions"] >= 48  # refreshed counters
    w.metric.utilization = None  # something changes: written at once
    before = len(w.hub.writes)
    await w.evaluate()
    assert len(w.hub.writes) == before + 1
    assert _condition(w, "MetricsAvailable")["status"] == "False"


def test_the_first_evaluations_after_start_are_spread_over_one_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    uids = [f"uid-{n}" for n in range(200)]
    delays = [w.rec.first_delay(30.0, uid) for uid in uids]
    assert max(delays) > 20 and min(delays) < 10
    # Each at its own place in the interval, where its later evaluations settle.
    now = time.monotonic()
    for uid, delay in zip(uids[:5], delays[:5], strict=True):
        assert delay == pytest.approx(reconciler.until_place(uid, 30.0, now), abs=0.05)
    # An hourly policy still gets its first phase within a minute.
    hourly = [w.rec.first_delay(3600.0, uid) for uid in uids]
    assert max(hourly) <= reconciler.STARTUP_SPREAD_MAX and max(hourly) > 40
    w.rec._started -= 3600  # later: a new policy goes at once
    assert max(w.rec.first_delay(30.0, uid) for uid in uids[:50]) <= 0.5


async def test_nothing_is_written_once_leadership_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    leader = [True]
    w = harness.world(monkeypatch, rec_kwargs={"may_write": lambda: leader[0]})
    await w.adopt()
    await w.evaluate()
    writes, scales, posted = len(w.hub.writes), len(w.target.scales), len(w.events)
    leader[0] = False
    for _ in range(5):
        w.clock.now += 70
        await w.evaluate()
    await w.rec.run_once(harness.UID)
    assert (len(w.hub.writes), len(w.target.scales), len(w.events)) == (writes, scales, posted)
    assert await w.rec.persist_all(1.0) == 0


async def test_a_recreated_policy_of_the_same_name_gets_its_own_loop_and_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.rec.observe(w.policy_body(), lambda _: [])
    recreated = w.policy_body()
    recreated["metadata"]["uid"] = "uid-new"
    recreated["spec"]["scaling"]["maxReplicas"] = 7
    await w.rec.observe(recreated, lambda _: [])
    try:
        old, new = w.rec._memory[harness.UID], w.rec._memory["uid-new"]
        assert old.task is not new.task
        assert new.runtime.baseline.config.max_replicas == 7
        assert old.runtime.baseline.config.max_replicas == 20
    finally:
        await w.rec.stop(1.0)


async def test_a_process_that_is_behind_retries_a_failure_at_the_interval_not_sooner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()

    monkeypatch.setattr(workloads, "read", _closed)
    early = await w.rec.run_once(harness.UID)
    assert early < 30
    # Keeping up: the failure is retried early, as before.
    assert w.rec.paced(early, 30.0) == early
    # Behind: another policy is overdue past LAGGING_SECONDS; an early retry would only add
    # load, so the failed one waits its interval (at most MAX_BACKOFF).
    w.rec.cadence.started("another")
    w.rec.cadence.scheduled("another", -(reconciler.LAGGING_SECONDS + 1))
    assert w.rec.paced(early, 30.0) == 30.0
    assert w.rec.paced(early, 3600.0) == reconciler.MAX_BACKOFF
    assert w.rec.paced(30.0, 30.0) == 30.0  # the normal cadence is untouched

"""Status is written when it says something new, else once a minute; the essence of the last
write is kept, not rebuilt on every evaluation."""

from __future__ import annotations

import itertools
import random

import pytest

from controllers import evaluation, refresh
from tests.unit.controllers import harness


async def test_nothing_new_is_written_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    w = harness.world(monkeypatch)
    w.metric.utilization = 1.0  # at target: every evaluation holds
    await w.adopt()
    await w.evaluate()
    await w.evaluate()  # the first two say new things (phase, first decision)
    settled = len(w.hub.writes)
    # The policy's window opens 90 s after the last write (105 s is in it).
    offset = (w.clock.now + 90.0) % refresh.STATUS_REFRESH_SECONDS
    monkeypatch.setattr(refresh, "phase", lambda _uid, _period: offset)
    essences: list[object] = []
    build = evaluation._essence

    def counting(status: object) -> object:
        essences.append(status)
        return build(status)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "_essence", counting)
    for _ in range(3):
        w.clock.now += 15
        await w.evaluate()
    assert len(w.hub.writes) == settled  # counters and times only: remembered, not written
    assert len(essences) == 3  # one per evaluation: the written one's is kept

    w.clock.now += refresh.STATUS_REFRESH_SECONDS
    await w.evaluate()
    assert len(w.hub.writes) == settled + 1

    w.metric.utilization = None  # the metric fails: a new condition, written at once
    w.clock.now += 15
    await w.evaluate()
    assert len(w.hub.writes) == settled + 2
    # /metrics says why each was written.
    registry = w.rec.evaluator.metrics.registry
    why = {
        k: registry.get_sample_value("nimbusguard_status_writes_total", {"why": k})
        for k in ("news", "refresh", "unsure", "record")
    }
    # The first write: the status showed no decision, so this instance wrote it in full.
    assert why == {"unsure": float(settled), "refresh": 1.0, "news": 1.0, "record": 0.0}


async def test_the_refresh_period_is_the_operators_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --status-refresh-seconds=10: a status with nothing new goes out in the policy's window
    # (5 s of every 10) that opens 7.5 s or more after the last write, or once it is 20 s old.
    # Evaluated every 5 s, one evaluation falls in each window: every 10 or 20 s.
    w = harness.world(monkeypatch, rec_kwargs={"status_refresh": 10.0})
    w.metric.utilization = 1.0
    await w.adopt()
    await w.evaluate()
    await w.evaluate()
    settled, times = len(w.hub.writes), []
    for _ in range(48):  # four minutes at 5 s
        w.clock.now += 5
        before = len(w.hub.writes)
        await w.evaluate()
        if len(w.hub.writes) > before:
            times.append(w.clock.now)
    refreshes = len(w.hub.writes) - settled
    assert 12 <= refreshes <= 24, refreshes  # the default's minute: 2-4 in four minutes
    assert max(b - a for a, b in itertools.pairwise(times)) <= refresh.stalest(10.0)


async def test_a_scales_record_writes_are_counted_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    w = harness.world(monkeypatch)
    w.metric.utilization = 3.0  # far above target: the first decision scales up
    await w.adopt()
    await w.evaluate()
    registry = w.rec.evaluator.metrics.registry
    records = registry.get_sample_value("nimbusguard_status_writes_total", {"why": "record"})
    assert w.target.replicas > 2
    assert records == 2.0  # Pending, then Succeeded
    counted = sum(
        registry.get_sample_value("nimbusguard_status_writes_total", {"why": k}) or 0.0
        for k in ("news", "refresh", "unsure", "record", "invalid")
    )
    assert counted == len(w.hub.writes)


async def test_routine_refreshes_keep_the_policys_half_of_the_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    w.metric.utilization = 1.0
    await w.adopt()
    await w.evaluate()
    await w.evaluate()
    offset = refresh.phase(harness.UID)
    writes, times = len(w.hub.writes), []
    for _ in range(16):  # four minutes of evaluations every 15 s, nothing new to say
        w.clock.now += 15
        await w.evaluate()
        if len(w.hub.writes) > writes:
            writes = len(w.hub.writes)
            times.append(w.clock.now)
    # A minute apart, each in the policy's window.
    assert len(times) >= 3
    assert [b - a for a, b in itertools.pairwise(times)] == [60.0] * (len(times) - 1)
    assert all((t - offset) % refresh.STATUS_REFRESH_SECONDS < 30 for t in times)


def test_a_fleets_refreshes_are_spread_over_the_minute() -> None:
    quarters = [0, 0, 0, 0]
    for n in range(2000):
        quarters[int(refresh.phase(f"4f1c{n:04d}-uid") // 15)] += 1
    assert all(400 <= q <= 600 for q in quarters), quarters


def test_a_fleet_written_in_one_round_refreshes_in_its_windows_not_together() -> None:
    # 1,000 policies, each written at its first evaluation (in the first 15 s) and evaluated
    # every 15 s after: the refreshes come at each one's own window, a quarter of the fleet
    # per 15 s, not half of it in the round a minute later.
    rounds: dict[int, int] = {}
    for n in range(1000):
        offset = refresh.phase(f"4f1c{n:04d}-uid")
        first = (n * 0.015) % 15
        written, paid = first, refresh.paid_until(0.0, first)
        for k in range(1, 20):
            now = first + 15 * k
            if refresh.due(written, paid, now, offset, 15.0):
                rounds[int(now // 15)] = rounds.get(int(now // 15), 0) + 1
                written, paid = now, refresh.paid_until(paid, now)
    assert max(rounds.values()) <= 320, rounds
    # Still once a minute each, once under way.
    assert 900 <= sum(rounds.get(r, 0) for r in range(8, 12)) <= 1100, rounds


@pytest.mark.parametrize(
    ("written_at", "paid", "now", "offset", "expected"),
    [
        (0.0, 60.0, 59.0, 0.0, False),  # less than a minute
        (0.0, 60.0, 61.0, 0.0, True),  # a minute, in the window
        (0.3, 60.3, 60.0, 0.0, True),  # a minute less the jitter of evaluation times
        (0.0, 60.0, 95.0, 0.0, False),  # out of the window: wait for it
        (0.0, 60.0, 75.0, 40.0, False),
        (0.0, 60.0, 100.0, 40.0, True),
        (0.0, 60.0, 112.0, 0.0, False),
        (0.0, 60.0, 113.0, 0.0, True),  # never staler than two minutes (less the jitter)
        (10.0, 70.0, 61.0, 0.0, False),  # the window opened 50 s after the write: not quiet yet
        (10.0, 70.0, 76.0, 0.0, True),  # a later evaluation of the same window
        (20.0, 80.0, 61.0, 0.0, False),  # opened 40 s after it: the next window, 100 s after it
        (20.0, 80.0, 121.0, 0.0, True),
        # A refresh at 0, news at 15: the news stands in for the refresh a minute later.
        (15.0, 120.0, 75.0, 0.0, False),
        (15.0, 120.0, 120.0, 0.0, True),
    ],
)
def test_a_refresh_is_due_a_minute_after_the_last_write_in_the_policys_window(
    written_at: float, paid: float, now: float, offset: float, expected: bool
) -> None:
    assert refresh.due(written_at, paid, now, offset, 15.0) is expected


def test_news_stands_in_for_a_refresh_so_a_fleet_writes_once_a_minute_in_all() -> None:
    # 1,000 policies evaluated every 15 s (±0.3 s), each evaluation with news one time in
    # ten (0.4 a minute): news is written at once, and the refreshes only make up the rest
    # of one write a minute. Counted from the last write only, the refreshes came on top of
    # the news (1.05 writes a minute here).
    rng = random.Random(7)  # noqa: S311 - reproducible, not secret
    writes = minutes = 0.0
    stalest = 0.0
    for n in range(1000):
        offset = refresh.phase(f"4f1c{n:04d}-uid")
        first = rng.uniform(0.0, 15.0)
        written, paid, counted = first, refresh.paid_until(0.0, first), 0
        for k in range(1, 120):  # 30 minutes; the first 10 are the start
            now = first + 15 * k + rng.uniform(-0.3, 0.3)
            news = rng.random() < 0.1
            if news or refresh.due(written, paid, now, offset, 15.0):
                stalest = max(stalest, now - written)
                written, paid = now, refresh.paid_until(paid, now)
                counted += k >= 40
        writes += counted
        minutes += (120 - 40) * 15 / 60
    assert writes / minutes <= 1.0
    assert stalest <= refresh.stalest() + 7.5


def _status(**changes: object) -> object:
    from api.v1 import scalingpolicy_types as types

    base: dict[str, object] = {
        "phase": "Learning",
        "currentReplicas": 2,
        "readyReplicas": 2,
        "targetReplicas": 2,
        "lastDecision": {
            "action": "hold",
            "mode": "baseline",
            "fromReplicas": 2,
            "toReplicas": 2,
            "confidence": 0.5,
            "reasoning": "at target",
            "time": "2026-12-02T10:00:00Z",
        },
        "learning": {
            "epsilon": 0.5,
            "updates": 10,
            "qTableConfigMap": "ops/nimbusguard-qtable-u",
            "lastPersistTime": "2026-12-02T10:00:00Z",
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Evaluated",
                "message": "fine",
                "lastTransitionTime": "2026-12-02T10:00:00Z",
            }
        ],
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return types.ScalingPolicyStatus.model_validate(base)


@pytest.mark.parametrize(
    "routine",
    [
        {"learning": {"lastPersistTime": "2026-12-02T10:05:00Z", "updates": 30}},
        {"readyReplicas": 1},
        {"targetReplicas": 3},
        {"lastDecision": {"reasoning": "still at target", "time": "2026-12-02T10:00:15Z"}},
        {"lastDecision": {"toReplicas": 3, "confidence": 0.9}},
        {"lastDecision": {"mode": "explore"}},
        {"metricSummary": "1.1/1"},
    ],
)
def test_routine_news_waits_for_the_next_write(routine: dict[str, object]) -> None:
    """A Q-table write, pods becoming ready, a decision's numbers: coalesced into the next
    write (at most a minute later), so that a policy costs at most one status write a minute
    in steady state (docs/benchmarks.md)."""
    assert evaluation._essence(_status(**routine)) == evaluation._essence(_status())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "news",
    [
        {"phase": "Active"},
        {"currentReplicas": 3},
        {"lastDecision": {"mode": "cooldown"}},
        {"lastDecision": {"action": "scale_up"}},
        {"lastDecision": {"mode": "fallback"}},
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ScaleFailed",
                    "message": "no",
                    "lastTransitionTime": "2026-12-02T10:00:00Z",
                }
            ]
        },
    ],
)
def test_news_is_written_at_once(news: dict[str, object]) -> None:
    assert evaluation._essence(_status(**news)) != evaluation._essence(_status())  # type: ignore[arg-type]


async def test_a_new_leader_does_not_rewrite_a_settled_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = harness.world(monkeypatch, obj=harness.body(evaluationInterval=15))
    old.metric.utilization = 1.0  # at target: every evaluation holds
    await old.adopt()
    await old.evaluate()
    await old.evaluate()
    settled, last_write = len(old.hub.writes), old.clock.now
    for _ in range(3):  # 45 s more of holding: remembered, not written
        old.clock.now += 15
        await old.evaluate()
    assert len(old.hub.writes) == settled
    # The old leader is gone; a new instance, which has written nothing, takes over.
    new = harness.world(monkeypatch, share=old)
    new.metric.utilization = 1.0
    await new.adopt()
    new.clock.now += 15
    took_over = new.clock.now
    # A refresh is due when it takes over: a minute since the last write, in the window.
    offset = took_over % refresh.STATUS_REFRESH_SECONDS
    monkeypatch.setattr(refresh, "phase", lambda _uid, _period: offset)
    assert refresh.due(last_write, refresh.paid_until(0.0, last_write), took_over, offset, 15.0)
    await new.evaluate()
    assert len(new.hub.writes) == settled  # the status shown is the one it would write
    # The refresh that fell due while no one led is not written in the first round (news
    # only) nor in the rest of a window that opened then: it waits for the policy's window
    # to open again, so a fleet's refreshes after a takeover keep their places.
    while len(new.hub.writes) == settled:
        new.clock.now += 15
        await new.evaluate()
    assert len(new.hub.writes) == settled + 1
    assert new.clock.now - took_over == refresh.STATUS_REFRESH_SECONDS
    assert (new.clock.now - offset) % refresh.STATUS_REFRESH_SECONDS == 0


async def test_a_new_leader_writes_news_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    old = harness.world(monkeypatch)
    old.metric.utilization = 1.0
    await old.adopt()
    await old.evaluate()
    await old.evaluate()
    settled = len(old.hub.writes)
    new = harness.world(monkeypatch, share=old)
    new.metric.utilization = None  # its metric fails: a new condition
    await new.adopt()
    new.clock.now += 15
    await new.evaluate()
    assert len(new.hub.writes) == settled + 1
    conditions = {c["type"]: c for c in new.hub.obj["status"]["conditions"]}
    assert any(c["status"] == "False" for c in conditions.values())

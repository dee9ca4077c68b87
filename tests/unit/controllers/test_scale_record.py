"""The write-ahead scale record under faults: cooldowns hold whatever write fails."""

from __future__ import annotations

import datetime
import itertools

import pytest

from nimbusguard.clients import errors, workloads
from tests.unit.controllers import harness


def _seconds(stamp: str | None) -> float:
    assert stamp is not None
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _gaps(scales: list[tuple[float, int, int]]) -> list[float]:
    return [b[0] - a[0] for a, b in itertools.pairwise(scales)]


@pytest.mark.parametrize("fault", ["fail", "lose"])
async def test_a_failed_status_write_never_rolls_the_cooldown_back(
    monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    await w.evaluate()  # scales 2 → 4 at T0
    assert len(w.target.scales) == 1
    w.clock.now += 70  # the cooldown (60 s) is over; load still 2× target
    if fault == "fail":
        w.hub.fail_unguarded = 1  # the status write after the scale times out
    else:
        w.hub.lose_unguarded = 1  # applied, but the answer is lost
    await w.evaluate()  # scales 4 → 8
    assert len(w.target.scales) == 2
    for _ in range(6):  # every 5 s for 30 s: all inside the cooldown of the second scale
        w.clock.now += 5
        await w.evaluate()
    assert len(w.target.scales) == 2, f"scaled inside the cooldown: {w.target.scales}"
    times = [_seconds(t) for t in w.hub.history if t is not None]
    assert times == sorted(times), "lastScalingTime moved back"


async def test_a_refused_scale_charges_no_cooldown_and_is_not_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    w.target.refuse = errors.ApiError(403, "HTTP 403: denied by admission")
    await w.evaluate()
    assert w.target.scales == []
    status = w.hub.live()["status"]
    assert "lastScalingTime" not in status
    assert status["metrics"]["scaleUps"] == 0
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ScaleFailed")
    w.target.refuse = None
    w.clock.now += 5  # the fault is gone: the scale follows at once, not a cooldown later
    await w.evaluate()
    assert [(f, t) for _, f, t in w.target.scales] == [(2, 4)]
    assert _seconds(w.hub.live()["status"]["lastScalingTime"]) == w.clock.now


async def test_a_crash_between_intent_and_scale_then_restart_after_the_cooldown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()

    class Crash(BaseException):
        pass

    async def die(*_: object) -> int:
        raise Crash

    monkeypatch.setattr(workloads, "scale", die)
    with pytest.raises(Crash):
        await w.evaluate()  # intent recorded, process gone before the scale
    intent_time = w.clock.now
    assert w.target.scales == []
    # A new process starts after the cooldown, from what the hub kept.
    w.clock.now += 65
    monkeypatch.setattr(workloads, "scale", w.target.scale)
    w2 = harness.world(monkeypatch, replicas=2, obj=w.hub.live())
    w2.clock.now = w.clock.now
    await w2.adopt()
    await w2.evaluate()
    assert [(f, t) for _, f, t in w2.target.scales] == [(2, 4)]
    scaled_at = w2.target.scales[0][0]
    assert scaled_at > intent_time
    assert _seconds(w2.hub.live()["status"]["lastScalingTime"]) == scaled_at
    for _ in range(11):  # the next scale waits a whole cooldown after the real one
        w2.clock.now += 5
        await w2.evaluate()
    assert len(w2.target.scales) == 1, w2.target.scales
    w2.clock.now += 10
    await w2.evaluate()
    assert len(w2.target.scales) == 2
    assert _gaps(w2.target.scales)[0] >= 60


async def test_two_overlapping_instances_never_roll_each_other_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = harness.world(monkeypatch)
    await a.adopt()
    b = harness.world(monkeypatch, share=a)  # the other instance, same hub and target
    stale = a.policy_body()  # what B's watch delivered before A acted
    await b.adopt()
    await a.evaluate()  # A scales 2 → 4
    assert len(a.target.scales) == 1
    for _ in range(11):  # for 55 s B evaluates from its stale view, A too
        a.clock.now += 5
        await b.rec.evaluate(stale, lambda _: [])
        await a.evaluate()
    assert len(a.target.scales) == 1, a.target.scales
    times = [_seconds(t) for t in a.hub.history if t is not None]
    assert times == sorted(times)

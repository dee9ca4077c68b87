"""The wait before a policy's next evaluation runs from its target read: reads never come
closer than the interval, and what an evaluation does after its read (the decision, the scale,
the status write) is not added to every interval."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from controllers import reconciler
from nimbusguard.scaling import learner
from nimbusguard.workflow.runtime import PolicyRuntime
from tests.unit.controllers import harness

INTERVAL = 1.0
AFTER_READ = 1.0  # the evaluation's work after its read


async def _evaluate_three_times(
    monkeypatch: pytest.MonkeyPatch, evaluation: Callable[[PolicyRuntime], Awaitable[float]]
) -> None:
    """Run one policy's loop with `evaluation` as its evaluation until it ran three times."""
    w = harness.world(monkeypatch)
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 0.0)
    runs, enough = [0], asyncio.Event()

    async def run_once(uid: str) -> float:
        delay = await evaluation(w.rec._memory[uid].runtime)
        runs[0] += 1
        if runs[0] >= 3:
            enough.set()
        return delay

    monkeypatch.setattr(w.rec, "run_once", run_once)
    body = harness.body()
    body["status"] = {"phase": "Learning"}  # no initial status write
    try:
        await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(enough.wait(), timeout=30)
    finally:
        await w.rec.stop(5.0)


async def test_the_next_evaluation_is_timed_from_the_target_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starts: list[float] = []
    reads: list[float] = []

    async def evaluation(runtime: PolicyRuntime) -> float:
        starts.append(time.monotonic())
        runtime.read_at = time.monotonic()
        reads.append(runtime.read_at)
        await asyncio.sleep(AFTER_READ)
        return INTERVAL

    await _evaluate_three_times(monkeypatch, evaluation)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    read_gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert all(g >= INTERVAL * (1 - reconciler.PLACE_PULL) for g in read_gaps), read_gaps
    # Timed from the evaluation's end, each start would come INTERVAL + AFTER_READ after the last.
    assert all(g < INTERVAL + AFTER_READ * 0.7 for g in gaps), gaps


async def test_an_evaluation_that_read_nothing_waits_from_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure before the read (no client, a refused permit): the retry's delay runs from
    the evaluation's end, as a stale read time from an earlier evaluation would shorten it."""
    ends: list[float] = []
    starts: list[float] = []

    async def evaluation(runtime: PolicyRuntime) -> float:
        starts.append(time.monotonic())
        if len(starts) == 1:
            runtime.read_at = time.monotonic()  # read once, then never
        await asyncio.sleep(0.3)
        ends.append(time.monotonic())
        return 0.5

    await _evaluate_three_times(monkeypatch, evaluation)
    assert starts[2] - ends[1] >= 0.5, (starts, ends)


async def test_the_decision_line_says_when_the_target_was_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The scale benchmark measures the gaps between a policy's observations from it."""
    w = harness.world(monkeypatch)
    await w.adopt()
    with caplog.at_level(logging.INFO, logger="controllers.evaluation"):
        await w.rec.run_once(harness.UID)
    lines = [r for r in caplog.records if r.getMessage().startswith("decision ")]
    assert len(lines) == 1
    observed = getattr(lines[0], "observed", None)
    # The evaluation's clock says when it began; the read came a moment later.
    assert observed is not None and w.clock() <= observed < w.clock() + 5


def test_a_bunch_of_policies_spreads_back_to_their_places() -> None:
    """A stall leaves a fleet's evaluations due in the same second; timed from their reads
    alone they would stay bunched every round. Pulled toward their places, they spread over
    the interval again, and no read comes closer than (1 - PLACE_PULL) × the interval."""
    interval = 15.0
    uids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1000)]
    due = dict.fromkeys(uids, 5000.0)  # all due at once after a stall
    for _ in range(12):
        for uid in uids:
            nxt = reconciler.toward_place(uid, interval, due[uid] + interval)
            assert nxt - due[uid] >= interval * (1 - reconciler.PLACE_PULL) - 1e-9
            due[uid] = nxt
    seconds = [0] * 15
    for t in due.values():
        seconds[int(t % interval)] += 1
    assert max(seconds) < 100 and min(seconds) > 35, seconds  # about 67 in every second
    # Settled at its place, a policy keeps exactly its interval.
    uid = uids[0]
    settled = due[uid]
    assert reconciler.toward_place(uid, interval, settled + interval) == pytest.approx(
        settled + interval
    )


def test_the_learner_takes_an_evaluation_pulled_early_as_on_time() -> None:
    # An evaluation pulled toward its place must still judge the decision one horizon back.
    assert reconciler.PLACE_PULL <= learner.ON_TIME_SHARE

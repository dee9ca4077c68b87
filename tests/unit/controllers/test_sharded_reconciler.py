"""With --shards: a replica evaluates only the policies of the shards it holds, and hands a
shard over only after its evaluation in flight finished."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from controllers import reconciler, settings
from nimbusguard.clients import workloads
from tests.unit.controllers import harness


async def test_a_policy_of_another_shard_is_never_evaluated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = [False]
    w = harness.world(monkeypatch, rec_kwargs={"owns": lambda uid: mine[0]})
    await w.adopt()
    await w.evaluate()
    assert (len(w.hub.writes), len(w.target.scales)) == (0, 0)
    assert w.rec.metrics.owned_policies._value.get() == 0

    mine[0] = True
    await w.evaluate()

    assert len(w.hub.writes) >= 1


async def test_quiesce_waits_for_the_evaluation_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = [True]
    w = harness.world(monkeypatch, rec_kwargs={"owns": lambda uid: mine[0]})
    await w.adopt()
    memory = w.rec._memory[harness.UID]
    await memory.runtime.lock.acquire()  # an evaluation in flight
    mine[0] = False  # the shard is being given up
    quiet = asyncio.create_task(w.rec.quiesce(frozenset({0})))
    await asyncio.sleep(0)
    assert not quiet.done()

    memory.runtime.lock.release()
    await asyncio.wait_for(quiet, timeout=5)

    assert w.rec.metrics.owned_policies._value.get() == 0


def test_shards_need_leader_election() -> None:
    with pytest.raises(settings.SettingsError, match="--shards needs --leader-elect"):
        settings.parse(["--shards", "4"], environ={})
    cfg = settings.parse(["--shards", "4", "--leader-elect"], environ={})
    assert cfg.shards == 4
    assert settings.parse([], environ={}).shards == 0


async def test_recount_follows_the_shards_held(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = [False]
    w = harness.world(monkeypatch, rec_kwargs={"owns": lambda uid: mine[0]})
    await w.adopt()
    assert w.rec.metrics.owned_policies._value.get() == 0

    mine[0] = True
    w.rec.recount()

    assert w.rec.metrics.owned_policies._value.get() == 1


async def test_counting_owned_policies_is_linear_in_the_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start-up listing of N policies asks `owns` about each once (a recount per new policy
    asked N²/2 times: 80,000 here); forgetting one updates the gauge without a recount."""
    asked = [0]

    def owns(uid: str) -> bool:
        asked[0] += 1
        return int(uid.rsplit("-", 1)[1]) % 2 == 0

    w = harness.world(monkeypatch, rec_kwargs={"owns": owns})
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 3600.0)  # no loop asks
    count = 400
    bodies = []
    for i in range(count):
        body = harness.body()
        body["metadata"].update(uid=f"uid-{i}", name=f"p{i}")
        body["status"] = {"phase": "Learning"}  # no initial status write
        bodies.append(body)
    try:
        for body in bodies:
            await w.rec.observe(body, lambda _: [])
        assert w.rec.metrics.owned_policies._value.get() == count // 2
        assert asked[0] <= count

        await w.rec.forget(bodies[0])  # an owned one
        await w.rec.forget(bodies[1])  # one of another shard
        assert w.rec.metrics.owned_policies._value.get() == count // 2 - 1
        assert asked[0] <= count

        w.rec.recount()  # the shards held changed: everything is asked again, once
        assert w.rec.metrics.owned_policies._value.get() == count // 2 - 1
        assert asked[0] <= 2 * count
    finally:
        await w.rec.stop(5.0)


async def test_a_policy_handed_over_is_first_evaluated_an_interval_after_the_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The replica that gave the shard up may have evaluated the policy just before."""
    released = time.monotonic() - 4.0  # seen released 4 s ago; the interval is 5 s
    w = harness.world(
        monkeypatch,
        obj=harness.body(evaluationInterval=5),
        rec_kwargs={"handed_over": lambda uid: released},
    )
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 0.0)
    starts: list[float] = []
    evaluated = asyncio.Event()

    async def run_once(uid: str) -> float:
        starts.append(time.monotonic())
        evaluated.set()
        return 5.0

    monkeypatch.setattr(w.rec, "run_once", run_once)
    body = w.policy_body()
    body["status"] = {"phase": "Learning"}
    try:
        await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(evaluated.wait(), timeout=30)
    finally:
        await w.rec.stop(5.0)

    assert starts[0] >= released + 5.0
    memory = w.rec._memory[harness.UID]
    assert w.rec._settling(harness.UID, memory) == 0.0  # evaluated here since: no more waiting


async def test_no_wait_without_a_handover(monkeypatch: pytest.MonkeyPatch) -> None:
    w = harness.world(monkeypatch)  # not sharded: handed_over says None
    await w.adopt()
    assert w.rec._settling(harness.UID, w.rec._memory[harness.UID]) == 0.0


async def test_a_shard_lost_during_an_evaluation_stops_its_reads_and_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shard is checked when the evaluation starts and again by every write: a replica
    starved past its renew deadline may lose the shard to another while it evaluates."""
    asked = [0]

    def owns(uid: str) -> bool:  # held when the evaluation starts, gone right after
        asked[0] += 1
        return asked[0] == 1

    w = harness.world(monkeypatch, rec_kwargs={"owns": owns})
    memory_body = w.policy_body()
    memory_body["status"] = {"phase": "Learning"}  # no initial status write
    await w.rec.observe(memory_body, lambda _: [])
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 3600.0)
    reads = [0]
    read = w.target.read

    async def counted(api: Any, ref: Any) -> Any:
        reads[0] += 1
        return await read(api, ref)

    monkeypatch.setattr(workloads, "read", counted)
    asked[0] = 0
    try:
        await w.evaluate()
    finally:
        await w.rec.stop(5.0)

    assert asked[0] >= 2  # asked again after the start
    assert (reads[0], len(w.hub.writes), len(w.target.scales)) == (0, 0, 0)


async def test_the_fence_is_the_leaders_and_the_evaluated_policys_shard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leading, mine = [True], {harness.UID: True}
    w = harness.world(
        monkeypatch,
        rec_kwargs={"owns": lambda uid: mine.get(uid, False), "may_write": lambda: leading[0]},
    )
    assert w.rec.fence()  # outside an evaluation: the leader's fence only
    token = reconciler._EVALUATING.set(harness.UID)
    try:
        assert w.rec.fence()
        mine[harness.UID] = False
        assert not w.rec.fence()
        mine[harness.UID], leading[0] = True, False
        assert not w.rec.fence()
    finally:
        reconciler._EVALUATING.reset(token)


async def test_a_new_policy_of_another_shard_gets_no_initial_status_from_this_replica(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, rec_kwargs={"owns": lambda uid: False})
    waiting = asyncio.Event()

    def first_delay(interval: float, uid: str) -> float:
        waiting.set()  # past the initial status, before the first evaluation
        return 3600.0

    monkeypatch.setattr(w.rec, "first_delay", first_delay)
    body = w.policy_body()
    body.pop("status", None)  # new: no phase yet
    try:
        await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(waiting.wait(), timeout=5)
    finally:
        await w.rec.stop(5.0)
    assert w.hub.writes == []

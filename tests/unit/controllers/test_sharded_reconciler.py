"""With --shards: a replica evaluates only the policies of the shards it holds, and hands a
shard over only after its evaluation in flight finished."""

from __future__ import annotations

import asyncio

import pytest

from controllers import settings
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

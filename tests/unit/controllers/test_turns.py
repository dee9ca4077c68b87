"""At most --max-concurrent-evaluations evaluations are in flight; the others wait their turn,
and the wait shows as evaluation lag (what NimbusGuardEvaluationLagging alerts on)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from controllers import learning, settings
from nimbusguard.clients import policies
from tests.unit.controllers import harness


class InFlight:
    """Counts the fake I/O waits in flight at once, and their peak."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    async def io(self, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


async def test_evaluations_beyond_the_bound_wait_and_their_wait_is_lag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, rec_kwargs={"max_concurrent": 2})
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 0.0)
    flight, done = InFlight(), [0]
    enough = asyncio.Event()

    async def run_once(uid: str) -> float:
        await flight.io(0.02)  # the evaluation's I/O
        done[0] += 1
        if done[0] >= 30:
            enough.set()
        return 0.0  # due again at once: six policies, two turns, so the others are late

    monkeypatch.setattr(w.rec, "run_once", run_once)
    try:
        for i in range(6):
            body = harness.body()
            body["metadata"].update(uid=f"uid-{i}", name=f"p{i}")
            body["status"] = {"phase": "Learning"}  # no initial status write
            await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(enough.wait(), timeout=20)
    finally:
        await w.rec.stop(5.0)

    assert flight.peak == 2
    lag = w.rec.metrics.evaluation_lag
    assert lag._sum.get() > 0


async def test_a_policy_forgotten_while_waiting_is_not_evaluated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, rec_kwargs={"max_concurrent": 1})
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 0.0)
    evaluated: list[str] = []
    release, first = asyncio.Event(), asyncio.Event()

    async def run_once(uid: str) -> float:
        evaluated.append(uid)
        first.set()
        await release.wait()
        return 3600.0

    monkeypatch.setattr(w.rec, "run_once", run_once)
    bodies = []
    for i in range(2):
        body = harness.body()
        body["metadata"].update(uid=f"uid-{i}", name=f"p{i}")
        body["status"] = {"phase": "Learning"}
        bodies.append(body)
    try:
        for body in bodies:
            await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(first.wait(), timeout=20)
        waiting = next(b for b in bodies if b["metadata"]["uid"] != evaluated[0])
        loop = w.rec._memory[waiting["metadata"]["uid"]].task
        await w.rec.forget(waiting)
        assert loop is not None and loop.done()  # forget ended the loop that waited
        release.set()
    finally:
        await w.rec.stop(5.0)

    assert evaluated == [evaluated[0]]


def test_the_bound_is_a_setting() -> None:
    assert settings.parse([], environ={}).max_concurrent_evaluations == 32
    cfg = settings.parse(["--max-concurrent-evaluations", "8"], environ={})
    assert cfg.max_concurrent_evaluations == 8
    with pytest.raises(settings.SettingsError, match="max-concurrent-evaluations"):
        settings.parse(["--max-concurrent-evaluations", "0"], environ={})


async def test_the_initial_status_writes_take_turns_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A start-up listing of policies without a phase is not one write per policy at once."""
    w = harness.world(monkeypatch, rec_kwargs={"max_concurrent": 2})
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 3600.0)  # writes only
    flight, phases = InFlight(), []
    all_written = asyncio.Event()

    async def patch_status(
        api: object, namespace: str, name: str, status: dict[str, Any], **_: object
    ) -> dict[str, Any]:
        await flight.io(0.02)  # the request
        phases.append(status.get("phase"))
        if len(phases) == 6:
            all_written.set()
        return {}

    monkeypatch.setattr(policies, "patch_status", patch_status)
    try:
        for i in range(6):
            body = harness.body()
            body["metadata"].update(uid=f"uid-{i}", name=f"p{i}")
            await w.rec.observe(body, lambda _: [])
        await asyncio.wait_for(all_written.wait(), timeout=20)
    finally:
        await w.rec.stop(5.0)

    assert (flight.peak, phases) == (2, ["Initializing"] * 6)


async def test_the_q_tables_written_at_shutdown_take_turns_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch, rec_kwargs={"max_concurrent": 3})
    for i in range(20):
        body = harness.body()
        body["metadata"].update(uid=f"uid-{i}", name=f"p{i}")
        memory = w.rec._remember(f"uid-{i}", types.ScalingPolicy.model_validate(body))
        memory.body = body
    flight, written = InFlight(), []

    async def persist(store: Any, policy: Any, rt: Any, now: float, *, force: bool) -> bool:
        await flight.io(0.01)  # the write's I/O
        written.append(policy.metadata.name)
        return force

    monkeypatch.setattr(learning, "persist", persist)
    assert await w.rec.persist_all(5.0) == 20
    assert flight.peak == 3
    assert sorted(written) == sorted(f"p{i}" for i in range(20))

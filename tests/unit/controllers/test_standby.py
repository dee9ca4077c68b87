"""A warm standby: it follows the policies and reads their Q-tables as they are written, but
evaluates and writes nothing; once it leads it keeps only the tables still current and
evaluates every policy at its own place in the interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import kopf
import pytest
from kubernetes.aio import client as k8s

from controllers import (
    health,
    learning,
    manager,
    observability,
    permits as permits_,
    reconciler,
    settings,
)
from nimbusguard.clients import endpoints, errors, kube, qtables
from nimbusguard.workflow import runtime as runtime_
from tests.unit.controllers import harness

DEADLINE = 10.0


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Tables:
    """The stored tables' versions (what a LIST shows), and the reads a standby made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
        self.versions = versions  # policy uid → resourceVersion of its table
        self.reads: list[tuple[str, str]] = []  # (uid, version read)
        self.fail_listing = False
        self.listings = 0
        self.unreadable: set[str] = set()
        self.failing: set[str] = set()  # reads that fail (the API server did not answer)
        self.hold: asyncio.Event | None = None  # set: reads wait for it
        monkeypatch.setattr(learning, "versions", self.list)
        monkeypatch.setattr(learning, "prepare", self.prepare)

    async def list(self, store: Any) -> dict[str, str]:
        self.listings += 1
        if self.fail_listing:
            raise errors.ClientError("the API server did not answer", reason="Timeout")
        return {qtables.table_name(uid): v for uid, v in self.versions.items()}

    async def prepare(self, store: Any, policy: Any, rt: runtime_.PolicyRuntime) -> str:
        version = self.versions.get(policy.metadata.uid, "")
        if self.hold is not None:
            await self.hold.wait()
        self.reads.append((policy.metadata.uid, version))
        if policy.metadata.uid in self.failing:
            raise errors.ClientError("the API server did not answer", reason="Timeout")
        if policy.metadata.uid in self.unreadable:
            return ""  # left to the leader's load
        rt.learner_ready = True
        return version


@contextlib.asynccontextmanager
async def _following(w: harness.World) -> AsyncIterator[asyncio.Task[None]]:
    """The standby following the tables, and its loops stopped at the end."""
    task = asyncio.create_task(w.rec.follow_tables(period=0.05))
    try:
        yield task
    finally:
        await w.rec.stop(5.0)
        task.cancel()


def _standby(monkeypatch: pytest.MonkeyPatch, leading: list[bool]) -> harness.World:
    w = harness.world(
        monkeypatch,
        rec_kwargs={"standby": True, "may_write": lambda: leading[0]},
    )
    monkeypatch.setattr(w.rec, "first_delay", lambda interval, uid: 0.0)
    return w


def _policy(uid: str) -> dict[str, Any]:
    body = harness.body()  # the hub's own policy (uid harness.UID), or another one
    if uid != harness.UID:
        body["metadata"].update(uid=uid, name=f"p-{uid}")
    body["status"] = {"phase": "Active"}
    return body


async def _observe(w: harness.World, *uids: str) -> None:
    for uid in uids:
        await w.rec.observe(_policy(uid), lambda _: [])


async def test_a_standby_reads_the_tables_and_evaluates_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leading = [False]
    w = _standby(monkeypatch, leading)
    tables = Tables(monkeypatch, {"a": "5", "b": "6"})
    async with _following(w):
        new = harness.body()
        new["metadata"].update(uid="c", name="p-c")  # no phase: a leader would initialise it
        await _observe(w, "a", "b")
        await w.rec.observe(new, lambda _: [])
        await _until(lambda: len(tables.reads) == 2, "both stored tables read")
        listed = tables.listings
        await _until(lambda: tables.listings >= listed + 2, "two more listings")
        assert sorted(tables.reads) == [("a", "5"), ("b", "6")]  # c has no table yet
        assert w.rec.cadence.evaluated == 0
        assert w.hub.writes == [] and w.events == []
        assert w.rec.metrics.owned_policies._value.get() == 0  # a standby owns none
        assert await w.rec.persist_all(1.0) == 0


def _errors(w: harness.World, operation: str) -> float:
    value = w.rec.metrics.registry.get_sample_value(
        "nimbusguard_standby_table_errors_total", {"operation": operation}
    )
    return value or 0.0


async def test_a_standby_that_cannot_list_or_read_the_tables_counts_it_in_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    tables.fail_listing = True
    assert (
        w.rec.metrics.registry.get_sample_value(
            "nimbusguard_standby_table_errors_total", {"operation": "list"}
        )
        == 0
    )  # exported before the first failure, so its first increase shows
    async with _following(w):
        await _observe(w, "a")
        await _until(lambda: _errors(w, "list") >= 2, "two failed listings counted")
        assert tables.reads == []  # nothing listed, nothing to read
        tables.failing.add("a")
        tables.fail_listing = False
        await _until(lambda: bool(w.rec._listed), "a listing that answers")
        w.rec._memory["a"].wake.set()  # its next tick, without waiting its interval
        await _until(lambda: bool(tables.reads), "a read of the listed table")
        await _until(lambda: _errors(w, "read") >= 1, "the failed read counted")
        assert w.hub.writes == [] and w.events == []  # a standby still writes nothing


async def test_a_table_written_again_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    async with _following(w):
        await _observe(w, "a")
        await _until(lambda: tables.reads == [("a", "5")], "the first read")
        listed = tables.listings
        tables.versions["a"] = "8"  # the leader persisted it
        await _until(lambda: tables.listings > listed + 1, "a listing since")
        w.rec._memory["a"].wake.set()  # its next tick, without waiting its interval
        await _until(lambda: ("a", "8") in tables.reads, "the second read")
        assert tables.reads == [("a", "5"), ("a", "8")]


async def test_taking_over_keeps_only_the_current_tables_then_evaluates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leading = [False]
    w = _standby(monkeypatch, leading)
    a, b = harness.UID, "b"
    tables = Tables(monkeypatch, {a: "5", b: "6"})
    async with _following(w) as following:
        await _observe(w, a, b)
        await _until(lambda: len(tables.reads) == 2, "both tables read")
        tables.versions[b] = "9"  # written by the old leader after the standby read it
        leading[0] = True
        await w.rec.take_over()
        assert w.rec._memory[a].runtime.learner_ready, "a current table is kept"
        assert not w.rec._memory[b].runtime.learner_ready, "a table written since is read again"
        await asyncio.wait_for(following, timeout=DEADLINE)  # it stops following by itself
        assert w.rec.metrics.owned_policies._value.get() == 2
        w.rec._memory[a].not_before = 0.0  # its place now, not up to an interval later
        w.rec._memory[a].wake.set()
        await _until(lambda: bool(w.hub.writes), "the new leader's first status write")
        assert w.rec.cadence.evaluated >= 1
        assert sorted(tables.reads) == sorted([(a, "5"), (b, "6")])  # no read once leading


async def test_a_policy_with_no_table_listed_at_take_over_is_marked_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its first load after the takeover does not ask for a table the listing, taken once
    this instance leads, did not hold (controllers/learning.py `load`)."""
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    async with _following(w):
        await _observe(w, "a", "young")
        await _until(lambda: len(tables.reads) == 1, "the stored table read")
        tables.versions["b"] = "7"  # written by the old leader after the last listing
        await _observe(w, "b")
        await w.rec.take_over()
        assert w.rec._memory["young"].runtime.table_listed_absent
        assert not w.rec._memory["a"].runtime.table_listed_absent  # kept, as read
        assert not w.rec._memory["b"].runtime.table_listed_absent  # read by its first load


async def test_the_first_round_after_a_takeover_ends_within_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each policy waits for its place, the round shortened by PLACE_PULL: the last one is
    due 5 % of an interval before the interval ends, which leaves room for its turn."""
    w = _standby(monkeypatch, [False])
    Tables(monkeypatch, {})
    uids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(200)]
    async with _following(w):
        await _observe(w, *uids)
        before = time.monotonic()
        await w.rec.take_over()
        after = time.monotonic()
        interval = 30.0  # the harness policy's
        waits = [w.rec._memory[uid].not_before - before for uid in uids]
        assert all(0.0 <= wait <= (1 - reconciler.PLACE_PULL) * interval + 0.1 for wait in waits)
        assert max(waits) > 0.9 * interval  # spread over the round, not a burst
        for uid in uids:
            expected = (1 - reconciler.PLACE_PULL) * reconciler.until_place(uid, interval, after)
            assert w.rec._memory[uid].not_before - after == pytest.approx(expected, abs=0.1)
        last = max(uids, key=lambda uid: w.rec._memory[uid].not_before)
        assert w.rec._settling(last, w.rec._memory[last]) > 0.9 * interval - 1.0
        memory = w.rec._memory[last]
        memory.not_before = time.monotonic() + 0.3  # its place, brought near for the test
        memory.wake.set()
        await _until(lambda: memory.started_at > after, "that policy's evaluation")
        assert memory.started_at >= memory.not_before  # not before its place


async def test_when_the_listing_fails_at_take_over_every_table_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    async with _following(w):
        await _observe(w, "a", "young")
        await _until(lambda: len(tables.reads) == 1, "the table read")
        tables.fail_listing = True
        await w.rec.take_over()
        assert not w.rec._memory["a"].runtime.learner_ready
        # Nothing listed, nothing known absent: the young policy's first load asks.
        assert not w.rec._memory["young"].runtime.table_listed_absent


async def test_a_read_that_ends_after_the_take_over_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It may have read the table before the old leader's last write."""
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    tables.hold = asyncio.Event()
    async with _following(w):
        await _observe(w, "a")
        await _until(lambda: w.rec._memory["a"].runtime.lock.locked(), "the read under way")
        await w.rec.take_over()
        tables.hold.set()
        await _until(lambda: tables.reads == [("a", "5")], "the read to end")
        await _until(lambda: not w.rec._memory["a"].runtime.lock.locked(), "the lock freed")
        assert not w.rec._memory["a"].runtime.learner_ready


async def test_a_standby_that_is_stopped_stops_trying_to_lead_before_winding_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Winding down takes seconds (the loops, kopf's grace): a standby still trying to lead
    meanwhile could take the Lease a leader just released, and hand it over twice."""
    order: list[str] = []

    class NeverLeads:
        async def acquire(self) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                order.append("stopped trying to lead")

        async def hold(self) -> None:
            raise AssertionError("never acquired")

        def may_act(self) -> bool:
            return False

    async def operator(*, stop_flag: asyncio.Event, ready_flag: asyncio.Event, **_: Any) -> None:
        ready_flag.set()
        await stop_flag.wait()

    real_wind_down = manager.wind_down

    async def wind_down(*args: Any, **kwargs: Any) -> None:
        order.append("winding down")
        await real_wind_down(*args, **kwargs)

    async def no_tables(store: Any) -> dict[str, str]:
        return {}

    monkeypatch.setattr(kopf, "operator", operator)
    monkeypatch.setattr(manager, "wind_down", wind_down)
    monkeypatch.setattr(learning, "versions", no_tables)
    cfg = settings.parse(["--leader-elect"], environ={})
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    clients = kube.ClusterClients(api, None)
    registry = endpoints.Registry(config_file=None, credentials_dir=None, allowed_addresses=())
    permits = permits_.Permits(hub=api, operator_namespace="nimbusguard-system", registry=registry)
    readiness = health.Readiness(role="standby")
    shutdown = asyncio.Event()
    elector: Any = NeverLeads()
    running = asyncio.create_task(
        manager._operate(
            cfg, clients, permits, observability.Metrics(), readiness, elector, shutdown
        )
    )
    try:
        await _until(lambda: readiness.watching, "the standby watching")
        shutdown.set()
        assert await asyncio.wait_for(running, timeout=DEADLINE) == 0
    finally:
        await api.close()  # type: ignore[no-untyped-call]
    assert order == ["stopped trying to lead", "winding down"]
    assert readiness.role == "standby"


async def test_an_unreadable_table_is_read_again_only_once_it_is_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = _standby(monkeypatch, [False])
    tables = Tables(monkeypatch, {"a": "5"})
    tables.unreadable.add("a")
    async with _following(w):
        await _observe(w, "a")
        await _until(lambda: tables.reads == [("a", "5")], "the first read")
        w.rec._memory["a"].wake.set()  # another tick at the same version: no read
        listed = tables.listings
        await _until(lambda: tables.listings > listed + 1, "two more listings")
        assert tables.reads == [("a", "5")]
        assert not w.rec._memory["a"].runtime.learner_ready
        tables.versions["a"] = "6"
        listed = tables.listings
        await _until(lambda: tables.listings > listed + 1, "a listing since")
        w.rec._memory["a"].wake.set()
        await _until(lambda: ("a", "6") in tables.reads, "the read of the new version")


def test_a_standby_ticks_at_each_policys_place_in_the_interval() -> None:
    """Policies first seen in the same instant (a start-up listing that outlasted the start-up
    window) tick at their own places, so a takeover's first round is spread over one
    interval, not one burst."""
    interval, now = 15.0, 1234.5
    uids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1000)]
    ticks = [now + reconciler.until_place(uid, interval, now) for uid in uids]
    assert all(now < t <= now + interval for t in ticks)
    seconds = [0] * 15
    for t in ticks:
        seconds[min(14, int(t - now))] += 1
    assert max(seconds) < 100 and min(seconds) > 35, seconds  # about 67 in every second
    # Each policy keeps its place from one tick to the next, whenever the tick ended.
    uid = uids[0]
    first = now + reconciler.until_place(uid, interval, now)
    later = first + 0.3  # its table read took 0.3 s
    assert later + reconciler.until_place(uid, interval, later) == pytest.approx(first + interval)


async def test_a_standby_loop_waits_until_its_policys_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop, not only the arithmetic: each standby tick asks `until_place` for its wait."""
    asked: list[tuple[str, float]] = []

    def spy(uid: str, interval: float, now: float) -> float:
        asked.append((uid, interval))
        return 0.01  # the next tick almost at once, so the test sees several

    monkeypatch.setattr(reconciler, "until_place", spy)
    leading = [False]
    w = _standby(monkeypatch, leading)
    Tables(monkeypatch, {"a": "5"})
    async with _following(w):
        await _observe(w, "a")
        await _until(lambda: len(asked) >= 3, "three standby ticks")
    assert set(asked) == {("a", 30.0)}
    assert w.rec.cadence.evaluated == 0

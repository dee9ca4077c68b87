"""Shard Leases against an in-memory Lease store with resourceVersions: one holder per shard,
even shares, release only after the policies stopped, takeover after a replica is lost."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard import sharding
from nimbusguard.clients import leases as leases_, shard_leases


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeCoordination:
    """The three Lease calls ShardLeases makes, with optimistic concurrency."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self._versions = itertools.count(1)

    def _obj(self, body: dict[str, Any]) -> SimpleNamespace:
        meta, spec = body["metadata"], body["spec"]
        return SimpleNamespace(
            metadata=SimpleNamespace(
                name=meta["name"], labels=meta["labels"], resource_version=meta["resourceVersion"]
            ),
            spec=SimpleNamespace(
                holder_identity=spec["holderIdentity"],
                renew_time=spec["renewTime"],
                lease_duration_seconds=spec["leaseDurationSeconds"],
            ),
        )

    async def list_namespaced_lease(self, namespace: str, label_selector: str) -> Any:
        key, value = label_selector.split("=")
        items = [
            self._obj(b) for b in self.leases.values() if b["metadata"]["labels"][key] == value
        ]
        return SimpleNamespace(items=items)

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> Any:
        name = body["metadata"]["name"]
        if name in self.leases:
            raise k8s.ApiException(status=409, reason="AlreadyExists")
        body["metadata"]["resourceVersion"] = str(next(self._versions))
        self.leases[name] = body
        return self._obj(body)

    async def replace_namespaced_lease(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> Any:
        current = self.leases.get(name)
        if current is None:
            raise k8s.ApiException(status=404, reason="NotFound")
        if current["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"]:
            raise k8s.ApiException(status=409, reason="Conflict")
        body["metadata"]["resourceVersion"] = str(next(self._versions))
        self.leases[name] = body
        return self._obj(body)

    def holders(self, shards: int) -> dict[int, str | None]:
        out = {}
        for shard in range(shards):
            lease = self.leases.get(sharding.lease_name("ng", shard))
            out[shard] = lease["spec"]["holderIdentity"] if lease else None
        return out


def replica(
    store: FakeCoordination, clock: Clock, identity: str, log: list[tuple[str, frozenset[int]]]
) -> shard_leases.ShardLeases:
    async def on_release(shards: frozenset[int]) -> None:
        # The policies stop before the Lease is given up: it is still ours at this moment.
        assert all(store.holders(6)[s] == identity for s in shards)
        log.append((identity, shards))

    lease = leases_.LeaseSettings(name="ng", namespace="ops", identity=identity)
    settings = shard_leases.ShardSettings(lease=lease, shards=6)
    leases = shard_leases.ShardLeases(
        k8s.ApiClient(), settings, on_release=on_release, monotonic=clock
    )
    leases._coord = store
    return leases


async def rounds(replicas: list[shard_leases.ShardLeases], clock: Clock, count: int) -> None:
    for _ in range(count):
        for r in replicas:
            await r.step()
        clock.now += 2.0


def uid_in(shard: int) -> str:
    """A policy uid of `shard` (of 6)."""
    return next(u for i in itertools.count() if sharding.shard_of(u := f"uid-{i}", 6) == shard)


def assert_one_holder_per_shard(replicas: list[shard_leases.ShardLeases]) -> None:
    for shard in range(6):
        assert sum(r.holds(shard) for r in replicas) <= 1, shard


async def test_replicas_share_the_shards_evenly_and_never_hold_one_twice() -> None:
    store, clock = FakeCoordination(), Clock()
    log: list[tuple[str, frozenset[int]]] = []
    a = replica(store, clock, "a", log)
    await rounds([a], clock, 2)
    assert a.held == frozenset(range(6))  # alone, it holds everything

    b, c = replica(store, clock, "b", log), replica(store, clock, "c", log)
    for _ in range(12):
        await rounds([a, b, c], clock, 1)
        assert_one_holder_per_shard([a, b, c])

    assert sorted(len(r.held) for r in (a, b, c)) == [2, 2, 2]
    assert {s for _, shards in log for s in shards} <= set(range(6))
    assert all(who == "a" for who, _ in log)  # only a had shards to give up
    # b and c took every shard they hold from a's release: their policies wait an interval
    for r in (b, c):
        for shard in r.held:
            assert r.handed_over(uid_in(shard)) is not None
    assert all(a.handed_over(uid_in(shard)) is None for shard in a.held)  # new Leases
    uid = "0b4c7a43-5f1e-4c1f-9a6e-2f7e4a1d9c11"
    assert sum(r.owns(uid) for r in (a, b, c)) == 1


async def test_a_lost_replicas_shards_move_within_the_lease_duration() -> None:
    store, clock = FakeCoordination(), Clock()
    log: list[tuple[str, frozenset[int]]] = []
    a, b, c = (replica(store, clock, name, log) for name in "abc")
    await rounds([a, b, c], clock, 12)
    lost = c.held
    assert len(lost) == 2

    began = clock.now
    while not lost <= (a.held | b.held):
        await rounds([a, b], clock, 1)  # c is SIGKILLed: it never renews again
        assert_one_holder_per_shard([a, b])
        assert clock.now - began <= 15.0 + 2 * 2.0, "takeover later than lease + 2 rounds"

    # c's shards came from expired Leases: c is dead, nobody evaluated their policies lately
    for shard in lost:
        owner = a if a.holds(shard) else b
        assert owner.handed_over(uid_in(shard)) is None

    await rounds([a, b], clock, 3)  # the cap may move one more shard between a and b
    assert_one_holder_per_shard([a, b])
    assert sorted(len(r.held) for r in (a, b)) == [3, 3]
    # c's own view expires by its clock: it stops evaluating before others may take over.
    assert c.held == frozenset()


async def test_release_all_gives_every_shard_up_after_stopping_its_policies() -> None:
    store, clock = FakeCoordination(), Clock()
    log: list[tuple[str, frozenset[int]]] = []
    a = replica(store, clock, "a", log)
    await rounds([a], clock, 1)

    await a.release_all()

    assert a.held == frozenset()
    assert log == [("a", frozenset(range(6)))]
    assert set(store.holders(6).values()) == {None}


async def test_the_fence_counts_from_when_the_renewal_was_sent() -> None:
    """A renewal answered late (this process or the API server starved) holds the shard only
    until renew deadline after it was sent: the others count from what they saw, earlier."""
    store, clock = FakeCoordination(), Clock()
    a = replica(store, clock, "a", [])
    replace = store.replace_namespaced_lease

    sent: list[float] = []

    async def slow_replace(name: str, namespace: str, body: dict[str, Any]) -> Any:
        if name == sharding.lease_name("ng", 0):
            sent.append(clock.now)
        done = await replace(name, namespace, body)
        clock.now += 4.0  # the answer takes 4 s to come back
        return done

    await rounds([a], clock, 1)  # created: answered at once
    store.replace_namespaced_lease = slow_replace  # type: ignore[method-assign]
    await a.step()
    deadline = a.settings.lease.renew_deadline
    clock.now = sent[0] + deadline - 0.1
    assert a.holds(0)
    clock.now = sent[0] + deadline + 0.1
    assert not a.holds(0)

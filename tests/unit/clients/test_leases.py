"""The Lease fence: an instance stops acting within the renew deadline of its last renewal,
even when the API server hangs, and before a standby may take over."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import time
import types as pytypes
from typing import Any

import pytest
from kubernetes.aio import client as k8s

from nimbusguard.clients import leases

SETTINGS = leases.LeaseSettings(
    name="lock", namespace="ns", identity="a", lease_duration=1.5, renew_deadline=1.0,
    retry_period=0.2,
)  # fmt: skip


class FakeCoordination:
    """One Lease; `hang` makes every call wait forever (a blackholed API server)."""

    def __init__(self, *_: Any) -> None:
        self.lease: Any = None
        self.hang = False
        self.reads = 0
        self.conflicts = 0  # the next N replaces answer 409 (someone else wrote meanwhile)

    async def _maybe_hang(self) -> None:
        if self.hang:
            await asyncio.Event().wait()

    async def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        await self._maybe_hang()
        self.reads += 1
        if self.lease is None:
            raise k8s.ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.lease)

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> Any:
        await self._maybe_hang()
        spec = body["spec"]
        self.lease = pytypes.SimpleNamespace(
            spec=pytypes.SimpleNamespace(
                holder_identity=spec["holderIdentity"],
                lease_duration_seconds=spec["leaseDurationSeconds"],
                renew_time=spec["renewTime"],
                acquire_time=spec["acquireTime"],
                lease_transitions=0,
            )
        )
        return self.lease

    async def replace_namespaced_lease(self, name: str, namespace: str, lease: Any) -> Any:
        await self._maybe_hang()
        if self.conflicts:
            self.conflicts -= 1
            raise k8s.ApiException(status=409, reason="Conflict")
        self.lease = copy.deepcopy(lease)
        return self.lease


@pytest.fixture
def coord(monkeypatch: pytest.MonkeyPatch) -> FakeCoordination:
    fake = FakeCoordination()
    monkeypatch.setattr(k8s, "CoordinationV1Api", lambda api: fake)
    return fake


async def test_the_fence_closes_within_the_renew_deadline_when_the_hub_hangs(
    coord: FakeCoordination,
) -> None:
    elector = leases.LeaderElector(None, SETTINGS)  # type: ignore[arg-type]
    await elector.acquire()
    assert elector.may_act()
    holding = asyncio.create_task(elector.hold())
    await asyncio.sleep(0.5)  # a couple of renewals
    assert elector.may_act()
    coord.hang = True
    cut = time.monotonic()
    with pytest.raises(leases.LeadershipLostError):
        await asyncio.wait_for(holding, timeout=5)
    lost_after = time.monotonic() - cut
    # Gave up within the renew deadline of the last renewal (plus one retry period).
    assert lost_after <= SETTINGS.renew_deadline + SETTINGS.retry_period + 0.3
    assert not elector.may_act()


async def test_the_fence_is_closed_before_a_standby_may_lead(coord: FakeCoordination) -> None:
    elector = leases.LeaderElector(None, SETTINGS)  # type: ignore[arg-type]
    before = time.monotonic()
    await elector.acquire()
    # A standby that saw this renewal at the earliest possible moment may lead only one lease
    # duration later; the fence closes a whole (lease duration - renew deadline) before that.
    assert elector.valid_until <= before + SETTINGS.renew_deadline + 0.1
    assert elector.valid_until < before + SETTINGS.lease_duration


async def test_a_standby_counts_the_lease_duration_from_when_its_read_returned(
    coord: FakeCoordination,
) -> None:
    other = leases.LeaderElector(None, dataclasses.replace(SETTINGS, identity="b"))  # type: ignore[arg-type]
    await other.acquire()  # "b" holds the Lease and then stops renewing
    answered: list[float] = []
    real_read = coord.read_namespaced_lease

    async def slow_read(name: str, namespace: str) -> Any:
        await asyncio.sleep(0.4)  # a slow API server
        lease = await real_read(name, namespace)
        answered.append(time.monotonic())
        return lease

    coord.read_namespaced_lease = slow_read  # type: ignore[method-assign]
    standby = leases.LeaderElector(None, SETTINGS)  # type: ignore[arg-type]
    await asyncio.wait_for(standby.acquire(), timeout=10)
    took_over = time.monotonic()
    # The Lease records whole seconds; a clock started before the read would be 0.4 s early.
    assert took_over - answered[0] >= int(SETTINGS.lease_duration) - 0.05


async def test_a_leader_renews_with_one_write_and_reads_again_after_a_conflict(
    coord: FakeCoordination,
) -> None:
    """Renewals replace the Lease as last written (one round trip); a 409 means someone wrote
    it since, and the next attempt reads it first."""
    elector = leases.LeaderElector(None, SETTINGS)  # type: ignore[arg-type]
    await elector.acquire()
    reads = coord.reads
    for _ in range(3):
        assert await elector._try_acquire_or_renew()
    assert coord.reads == reads  # no reads while nothing else wrote

    coord.conflicts = 1
    assert not await elector._try_acquire_or_renew()
    assert await elector._try_acquire_or_renew()  # read, still ours, renewed
    assert coord.reads == reads + 1
    assert elector.may_act()

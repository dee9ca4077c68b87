"""Shard Leases: this replica's share of K coordination.k8s.io Leases (see nimbusguard.sharding).

Every retry period one round: list the Leases of the shard set (one LIST, by label), renew
this replica's presence Lease, compute the plan from the live replicas and the shards'
holders, then renew the shards it holds, take the free ones assigned to it, and release the
ones it should give up, after `on_release` has stopped their policies.

Fencing is as in the single-leader case: a shard counts as held only until `renew_deadline`
after its last successful renewal, measured on this process's monotonic clock, and the
Lease's duration is longer than that; expiry of others' Leases is judged locally too (a
record unchanged for its whole duration), never by comparing clocks between hosts. Writes go
with the resourceVersion read in the same round, so two replicas racing for a shard get one
success and one 409.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard import sharding
from nimbusguard.clients import errors, kube, leases

logger = logging.getLogger(__name__)

SET_LABEL = "nimbusguard.io/shard-set"
KIND_LABEL = "nimbusguard.io/lease-kind"  # "shard" or "replica"


@dataclasses.dataclass(frozen=True)
class ShardSettings:
    """K shards; `lease` gives the namespace, this replica's identity, the timings (as for
    leader election) and, as its name, the prefix of the shard set's Lease names."""

    lease: leases.LeaseSettings
    shards: int

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= sharding.MAX_SHARDS:
            raise errors.ConfigError(f"--shards must be 1..{sharding.MAX_SHARDS}")

    @property
    def prefix(self) -> str:
        return self.lease.name

    @property
    def namespace(self) -> str:
        return self.lease.namespace

    @property
    def identity(self) -> str:
        return self.lease.identity


@dataclasses.dataclass(frozen=True)
class Record:
    """What one Lease says, as far as expiry is concerned."""

    name: str
    holder: str
    renew_time: str
    duration: float
    resource_version: str = dataclasses.field(default="", compare=False)


class Observer:
    """Judges expiry on the local clock: a holder is live until its Lease has not changed for
    its whole duration since this process first saw it unchanged (client-go's rule)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Record, float]] = {}

    def since(self, name: str) -> float | None:
        """When Lease `name` was first seen as it is now (local clock)."""
        seen = self._seen.get(name)
        return None if seen is None else seen[1]

    def holder(self, record: Record, now: float) -> str | None:
        previous = self._seen.get(record.name)
        if previous is None or previous[0] != record:
            self._seen[record.name] = (record, now)
            since = now
        else:
            since = previous[1]
        if not record.holder or now - since >= max(record.duration, 1.0):
            return None
        return record.holder


def _record(lease: Any) -> Record:
    spec, meta = lease.spec, lease.metadata
    return Record(
        name=meta.name,
        holder=(spec.holder_identity or "") if spec else "",
        renew_time=str(spec.renew_time) if spec else "",
        duration=float((spec.lease_duration_seconds or 0) if spec else 0),
        resource_version=meta.resource_version or "",
    )


class ShardLeases:
    """This replica's shard Leases; `owns(uid)` says whether it may evaluate a policy now."""

    def __init__(
        self,
        api: k8s.ApiClient,
        settings: ShardSettings,
        *,
        on_release: Callable[[frozenset[int]], Awaitable[None]],
        on_change: Callable[[frozenset[int]], None] = lambda _: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._coord: Any = k8s.CoordinationV1Api(api)
        self.settings = settings
        self.on_release = on_release
        self.on_change = on_change
        self._monotonic = monotonic
        self._observer = Observer()
        self._renewed: dict[int, float] = {}  # shard → monotonic time of its last renewal
        self._records: dict[int, Record] = {}  # the shards' Leases as last listed
        # shard → when its previous holder was first seen to have given it up, for the shards
        # this replica took from a release (not from an expired or a new Lease)
        self._handed: dict[int, float] = {}
        self.live: frozenset[str] = frozenset()

    # -- what the evaluation loops ask -------------------------------------------------------

    def holds(self, shard: int) -> bool:
        renewed = self._renewed.get(shard)
        return renewed is not None and (
            self._monotonic() - renewed < self.settings.lease.renew_deadline
        )

    def owns(self, uid: str) -> bool:
        return self.holds(sharding.shard_of(uid, self.settings.shards))

    def handed_over(self, uid: str) -> float | None:
        """When the previous holder of the policy's shard gave it up (local monotonic clock),
        if this replica holds the shard and took it from that release; else None. The previous
        holder may have evaluated the policy just before it released the shard."""
        shard = sharding.shard_of(uid, self.settings.shards)
        return self._handed.get(shard) if self.holds(shard) else None

    @property
    def held(self) -> frozenset[int]:
        # A copy first: the rounds may run on another thread (see loop_thread) and change the
        # dict while this iterates.
        return frozenset(s for s in tuple(self._renewed) if self.holds(s))

    # -- the rounds --------------------------------------------------------------------------

    async def run(self) -> None:
        """Rounds every retry period until cancelled."""
        while True:
            try:
                await self.step()
            except errors.ClientError as exc:
                logger.warning("shard leases: %s", exc)
            await asyncio.sleep(self.settings.lease.retry_period)

    async def step(self) -> sharding.Plan:
        s = self.settings
        before = self.held
        leases = await kube.call(
            self._coord.list_namespaced_lease,
            s.namespace,
            label_selector=f"{SET_LABEL}={s.prefix}",
            timeout=self._timeout,
        )
        now = self._monotonic()
        presence = sharding.presence_name(s.prefix, s.identity)
        mine: Record | None = None
        shards: dict[int, Record] = {}
        holders: dict[int, str | None] = {}
        live = {s.identity}
        for lease in leases.items:
            record = _record(lease)
            kind = (lease.metadata.labels or {}).get(KIND_LABEL)
            holder = self._observer.holder(record, now)
            if kind == "replica":
                if record.name == presence:
                    mine = record
                elif holder:
                    live.add(holder)
            elif kind == "shard":
                shard = _shard_number(record.name, s.prefix)
                if shard is not None and shard < s.shards:
                    shards[shard], holders[shard] = record, holder
        self.live, self._records = frozenset(live), shards
        plan = sharding.plan(s.shards, s.identity, live, holders)
        await self._write(presence, "replica", mine)
        if plan.release:
            for shard in plan.release:
                self._renewed.pop(shard, None)
            await self.on_release(plan.release)
            for shard in plan.release:
                await self._write(sharding.lease_name(s.prefix, shard), "shard", shards[shard], "")
        for shard in sorted(plan.assigned - plan.wait):
            previous = shards.get(shard)
            # The fence counts from when the renewal was sent: a reply that comes late (this
            # process or the API server starved) must not stretch it past what others see.
            sent = self._monotonic()
            written = await self._write(sharding.lease_name(s.prefix, shard), "shard", previous)
            if written is None:
                continue
            self._renewed[shard] = sent
            self._records[shard] = written
            if shard in before:
                continue
            released = previous is not None and not previous.holder
            since = self._observer.since(previous.name) if previous is not None else None
            if released and since is not None:
                self._handed[shard] = since
            else:  # a new Lease, or one whose holder died: nobody evaluated it lately
                self._handed.pop(shard, None)
        if self.held != before:
            logger.info("holding shards %s of %d", sorted(self.held), s.shards)
            self.on_change(self.held)
        return plan

    async def release_all(self) -> None:
        """Give every held shard up at once (shutdown), after `on_release` stopped them."""
        held = frozenset(self._renewed)
        self._renewed.clear()
        if held:
            await self.on_release(held)
        for shard in held:
            name = sharding.lease_name(self.settings.prefix, shard)
            try:
                await self._write(name, "shard", self._records.get(shard), "")
            except errors.ClientError as exc:
                logger.warning("could not release shard %d: %s", shard, exc)

    # -- one Lease ---------------------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        return max(1.0, self.settings.lease.renew_deadline / 2)

    async def _write(
        self, name: str, kind: str, record: Record | None, holder: str | None = None
    ) -> Record | None:
        """Create or replace Lease `name` with `holder` (this replica by default, "" to
        release); what it says now, or None when someone else's write won (404, 409)."""
        s = self.settings
        now = datetime.datetime.now(datetime.UTC)
        who = s.identity if holder is None else holder
        body: dict[str, Any] = {
            "metadata": {
                "name": name,
                "namespace": s.namespace,
                "labels": {SET_LABEL: s.prefix, KIND_LABEL: kind},
            },
            "spec": {
                "holderIdentity": who or None,
                "leaseDurationSeconds": int(s.lease.lease_duration) if who else 1,
                "renewTime": now,
            },
        }
        try:
            if record is None or not record.resource_version:
                body["spec"]["acquireTime"] = now
                written = await kube.call(
                    self._coord.create_namespaced_lease, s.namespace, body, timeout=self._timeout
                )
            else:
                body["metadata"]["resourceVersion"] = record.resource_version
                if record.holder != who:
                    body["spec"]["acquireTime"] = now
                written = await kube.call(
                    self._coord.replace_namespaced_lease,
                    name,
                    s.namespace,
                    body,
                    timeout=self._timeout,
                )
        except errors.ApiError as exc:
            if exc.status in (404, 409):  # lost a race; the next round sees the winner
                return None
            raise
        return _record(written)


def _shard_number(name: str, prefix: str) -> int | None:
    head = f"{prefix}-shard-"
    if not name.startswith(head) or not name[len(head) :].isdigit():
        return None
    return int(name[len(head) :])

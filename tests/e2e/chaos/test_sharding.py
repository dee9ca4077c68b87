"""Sharding across replicas (issue 15, item 4): three operators with `--shards 6` share the
shards two each; one is SIGKILLed, its shards move to the others within the Lease duration,
and no policy is evaluated by two replicas within an interval, nor by one that does not hold
its shard.

The evidence is the hub's audit log, not the operators' logs: each operator authenticates as
a user of its own whose Deployment reads are logged (started with --target-reads=get, reading
its target is the one request every evaluation makes), and every shard Lease write is logged
with the holder it names.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from typing import Any

import kubernetes

from hack.localcluster.audit import AuditEvent
from nimbusguard import sharding
from nimbusguard.clients import shard_leases
from tests.e2e import support
from tests.e2e.chaos.env import Chaos, utc_now
from tests.e2e.chaos.leaders import INTERVAL, LEASE_ARGS, LEASE_DURATION
from tests.e2e.controller import helpers as h

SHARDS = 6
REPLICAS = 3
RETRY_PERIOD = 2  # LEASE_ARGS
PREFIX = "nimbusguard-operator"  # the default --lease-name


def holders(chaos: Chaos) -> dict[int, str | None]:
    """Shard → the holder its Lease names now (None: free or not created yet)."""
    found: dict[int, str | None] = dict.fromkeys(range(SHARDS))
    leases: Any = kubernetes.client.CoordinationV1Api(chaos.api).list_namespaced_lease(
        chaos.ns, label_selector=f"{shard_leases.KIND_LABEL}=shard"
    )
    for lease in leases.items:
        shard = int(lease.metadata.name.rsplit("-", 1)[1])
        found[shard] = lease.spec.holder_identity or None
    return found


def shares(chaos: Chaos) -> dict[str, set[int]]:
    out: dict[str, set[int]] = defaultdict(set)
    for shard, holder in holders(chaos).items():
        if holder:
            out[holder].add(shard)
    return out


def lease_writes(chaos: Chaos) -> list[tuple[datetime.datetime, int, str]]:
    """(server time, shard, holder named) of every successful shard Lease write."""
    out = []
    for event in chaos.writes(resource="leases", succeeded=True):
        name, body = event.name, event.request or {}
        if not name.startswith(f"{PREFIX}-shard-"):
            continue
        holder = str((body.get("spec") or {}).get("holderIdentity") or "")
        out.append((event.received, int(name.rsplit("-", 1)[1]), holder))
    return out


def by_policy(reads: list[AuditEvent]) -> dict[str, list[AuditEvent]]:
    out: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in reads:
        out[event.name].append(event)
    return out


def test_a_killed_replicas_shards_move_and_no_policy_is_evaluated_twice(chaos: Chaos) -> None:
    names = [f"p{i}" for i in range(12)]
    for name in names:
        chaos.deployment(name, 1)
        chaos.demand(name, 1)  # on target: every evaluation holds
        chaos.policy(name, name, cooldown=5, interval=INTERVAL)
    shard = {
        name: sharding.shard_of(
            str(h.get_policy(chaos.api, chaos.ns, name)["metadata"]["uid"]), SHARDS
        )
        for name in names
    }
    replicas = [
        chaos.operator(
            f"r{i}",
            leader_elect=True,
            wait=None,
            # One GET per evaluation, the evidence (the default, a watch, reads none).
            extra_args=(*LEASE_ARGS, f"--shards={SHARDS}", "--target-reads=get"),
            audit_reads=True,
        )
        for i in range(REPLICAS)
    ]
    users = {r.user for r in replicas}
    support.wait_until(
        lambda: {u: len(s) for u, s in shares(chaos).items()} == dict.fromkeys(users, 2),
        timeout=90,
        what="each of the three replicas to hold two shards",
    )
    balanced = chaos.audit.mark()
    support.wait_until(
        lambda: {e.name for e in chaos.evaluations(since=balanced)} >= set(names),
        timeout=3 * INTERVAL + 30,
        what="every policy evaluated once the shards are shared",
    )

    held = shares(chaos)
    victim = max(replicas, key=lambda r: sum(shard[n] in held[r.user] for n in names))
    survivors = [r for r in replicas if r is not victim]
    lost = held[victim.user]
    orphans = [n for n in names if shard[n] in lost]
    assert orphans, "the victim evaluates no policy: nothing would move"
    killed_at = utc_now()
    victim.process.kill()
    support.wait_until(
        lambda: all(holders(chaos)[s] in {r.user for r in survivors} for s in lost),
        timeout=LEASE_DURATION + 4 * RETRY_PERIOD + 30,
        what="the survivors to take the victim's shards",
    )
    moved = chaos.audit.mark()
    support.wait_until(
        lambda: (
            all(len(reads) >= 2 for reads in by_policy(chaos.evaluations(since=moved)).values())
            and {e.name for e in chaos.evaluations(since=moved)} == set(names)
        ),
        timeout=3 * INTERVAL + 30,
        what="every policy evaluated twice after the shards moved",
    )

    # The shards moved within the Lease duration (+ the two rounds that see it expire and take
    # it, + a margin for this shared machine), by the hub's clock.
    taken = [
        (when, s)
        for when, s, holder in lease_writes(chaos)
        if s in lost and when > killed_at and holder in {r.user for r in survivors}
    ]
    for s in lost:
        first = min(when for when, t in taken if t == s)
        moved_after = (first - killed_at).total_seconds()
        assert moved_after <= LEASE_DURATION + 2 * RETRY_PERIOD + 5, (s, moved_after)

    reads = chaos.evaluations()
    # Never evaluated by a replica that did not hold the policy's shard: the newest shard
    # Lease write before each read named the reader.
    writes = sorted(lease_writes(chaos))
    for read in reads:
        before = [
            holder for when, s, holder in writes if s == shard[read.name] and when < read.received
        ]
        assert before and before[-1] == read.user, (read.name, read.user, read.received)
    # Never evaluated twice in an interval: not by two replicas, not by one.
    for name, events in by_policy(reads).items():
        for a, b in itertools.pairwise(events):
            gap = (b.received - a.received).total_seconds()
            assert gap >= INTERVAL - 0.5, (name, a.user, b.user, a.received, gap)
    # The victim's policies are evaluated by the survivors now, and the victim stopped.
    after = by_policy(chaos.evaluations(since=moved))
    assert all({e.user for e in after[n]} <= {r.user for r in survivors} for n in orphans)
    assert not victim.process.running()

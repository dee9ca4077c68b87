"""Which replica evaluates which policy: a pure plan over K shard Leases (no I/O).

With `--shards K`, every policy belongs to shard `shard_of(uid, K)`: a stable hash of its uid
(SHA-256, not Python's per-process salted `hash`), so every replica computes the same shard
for the same policy, forever. Each shard is one Lease (`lease_name`); a replica evaluates a
policy only while it holds that policy's shard Lease, so the Lease's single holder is the
policy's single evaluator, exactly as in the single-leader mode.

Who should hold which shard is decided by every replica alone, from what all of them see: the
live replicas (each renews a presence Lease) and the shard Leases' holders. `assign` is
rendezvous hashing with a cap: shard by shard, the live replica with the highest score for
that shard gets it unless it already has its share (⌊K ÷ replicas⌋, or one more for the
first K mod replicas that reach it). So

- every replica computes the same assignment from the same view (no coordinator);
- shares differ by at most one shard;
- when a replica joins or leaves, only about K ÷ replicas shards move (the others keep their
  highest-scoring holder), so a takeover does not reshuffle the fleet.

`plan` turns the assignment into this replica's next steps: take the free shards assigned to
it, release the ones it holds but is no longer assigned (after stopping their policies), and
wait for the rest (their holders release them, or their Leases expire when a holder died).
Views differ for a moment while Leases change; the Leases themselves keep one holder per shard
meanwhile, so a disagreement only delays a handover, it never doubles an evaluator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Collection, Mapping

MAX_SHARDS = 256


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shard_of(uid: str, shards: int) -> int:
    """The shard of the policy with this uid, in [0, shards)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {shards}")
    return _digest(uid) % shards


def lease_name(prefix: str, shard: int) -> str:
    """The shard's Lease: `<prefix>-shard-<i>` (e.g. nimbusguard-operator-shard-3)."""
    return f"{prefix}-shard-{shard}"


def presence_name(prefix: str, identity: str) -> str:
    """The Lease a replica renews to say it is alive. Identities are pod names in a cluster,
    but may be anything locally, so the name carries a hash of it (a valid DNS label)."""
    return f"{prefix}-replica-{_digest(identity):016x}"


def fair_share(shards: int, replicas: int) -> int:
    return math.ceil(shards / max(replicas, 1))


def assign(shards: int, live: Collection[str]) -> dict[int, str]:
    """shard → the live replica that should hold it (empty without live replicas)."""
    replicas = sorted(set(live))
    if not replicas:
        return {}
    floor, extra = divmod(shards, len(replicas))  # `extra` replicas may hold floor + 1
    load = dict.fromkeys(replicas, 0)
    out: dict[int, str] = {}
    for shard in range(shards):
        ranked = sorted(replicas, key=lambda r: (-_digest(f"{shard}/{r}"), r))
        owner = next(r for r in ranked if load[r] < floor or (load[r] == floor and extra > 0))
        if load[owner] == floor:
            extra -= 1
        out[shard] = owner
        load[owner] += 1
    return out


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `me` should do now."""

    assigned: frozenset[int]  # shards `me` should hold
    take: frozenset[int]  # assigned and free: acquire now
    release: frozenset[int]  # held but not assigned: stop their policies, then release
    wait: frozenset[int]  # assigned but still held by another live replica


def plan(
    shards: int,
    me: str,
    live: Collection[str],
    holders: Mapping[int, str | None],
) -> Plan:
    """This replica's steps, from the live replicas (itself included or not) and each shard's
    current holder (None or absent: free, or its Lease expired)."""
    assignment = assign(shards, {*live, me})
    assigned = frozenset(s for s, owner in assignment.items() if owner == me)
    held = frozenset(s for s, holder in holders.items() if holder == me)
    take = frozenset(s for s in assigned if not holders.get(s))
    wait = frozenset(s for s in assigned if holders.get(s) not in (None, "", me))
    return Plan(assigned=assigned, take=take, release=held - assigned, wait=wait)

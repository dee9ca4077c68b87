"""The shard plan: stable, balanced, minimal movement, and one holder per shard."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, strategies as st

from nimbusguard import sharding

identities = st.lists(st.text("abcdefghij-0123456789", min_size=1, max_size=12), min_size=1,
                      max_size=6, unique=True)  # fmt: skip


def test_shard_of_is_stable_across_processes() -> None:
    # Pinned: Python's hash() is salted per process, SHA-256 is not.
    assert sharding.shard_of("0b4c7a43-5f1e-4c1f-9a6e-2f7e4a1d9c11", 8) == sharding.shard_of(
        "0b4c7a43-5f1e-4c1f-9a6e-2f7e4a1d9c11", 8
    )
    assert [sharding.shard_of(f"uid-{i}", 4) for i in range(8)] == [
        sharding.shard_of(f"uid-{i}", 4) for i in range(8)
    ]
    with pytest.raises(ValueError, match="shards must be"):
        sharding.shard_of("x", 0)


def test_uids_spread_evenly_over_shards() -> None:
    counts = [0] * 8
    for _ in range(8000):
        counts[sharding.shard_of(str(uuid.uuid4()), 8)] += 1
    assert min(counts) > 800
    assert max(counts) < 1200


@given(shards=st.integers(1, 64), live=identities)
def test_every_shard_has_one_live_owner_and_shares_differ_by_at_most_one(
    shards: int, live: list[str]
) -> None:
    assignment = sharding.assign(shards, live)

    assert sorted(assignment) == list(range(shards))
    assert set(assignment.values()) <= set(live)
    loads = [sum(1 for o in assignment.values() if o == r) for r in live]
    assert max(loads) <= sharding.fair_share(shards, len(live))
    assert max(loads) - min(loads) <= 1


@given(shards=st.integers(2, 64), live=identities)
def test_the_assignment_does_not_depend_on_who_computes_it(shards: int, live: list[str]) -> None:
    assert sharding.assign(shards, live) == sharding.assign(shards, list(reversed(live)))


def test_a_lost_replica_moves_only_its_own_shards_mostly() -> None:
    before = sharding.assign(24, ["a", "b", "c"])
    after = sharding.assign(24, ["a", "b"])

    moved = [s for s in range(24) if before[s] != after[s]]
    lost = [s for s in range(24) if before[s] == "c"]
    assert set(lost) <= set(moved)
    assert len(moved) <= len(lost) + 4  # the cap shifts a few, not the whole fleet
    assert all(after[s] in ("a", "b") for s in range(24))


def test_the_plan_takes_free_shards_waits_for_held_ones_and_releases_extras() -> None:
    assignment = sharding.assign(6, ["a", "b"])
    mine = {s for s, o in assignment.items() if o == "a"}
    theirs = set(range(6)) - mine
    one_of_mine, *rest_of_mine = sorted(mine)
    holders: dict[int, str | None] = {one_of_mine: "b", **dict.fromkeys(rest_of_mine, None)}
    holders.update(dict.fromkeys(theirs, "a"))  # a holds b's shards (b just joined)

    step = sharding.plan(6, "a", ["a", "b"], holders)

    assert step.assigned == frozenset(mine)
    assert step.take == frozenset(rest_of_mine)
    assert step.wait == frozenset({one_of_mine})
    assert step.release == frozenset(theirs)


def test_alone_a_replica_is_assigned_every_shard() -> None:
    step = sharding.plan(4, "a", [], {})
    assert step.assigned == step.take == frozenset(range(4))
    assert not step.release and not step.wait


def test_lease_names_are_valid_dns_labels() -> None:
    assert sharding.lease_name("nimbusguard-operator", 3) == "nimbusguard-operator-shard-3"
    name = sharding.presence_name("nimbusguard-operator", "Pod_Name/With Spaces")
    assert name.startswith("nimbusguard-operator-replica-")
    assert len(name) <= 63
    assert name == name.lower()
    assert all(c.isalnum() or c == "-" for c in name)

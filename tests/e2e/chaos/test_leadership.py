"""One actor at a time: a leader cut off from the hub never writes after its successor does,
not even once the partition heals (issue 11, item 5).

Each operator authenticates as a user of its own, so the hub's audit log says who wrote
what and when (the server's clock, not the test's polls).
"""

from __future__ import annotations

from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.chaos.leaders import LEASE_DURATION, pair, policies
from tests.e2e.controller import helpers as h


def test_a_leader_cut_off_from_the_hub_never_writes_after_the_new_leader(chaos: Chaos) -> None:
    names = policies(chaos, 4, spec={"aiConfig": {"persistIntervalSeconds": 5}})
    leader, standby = pair(chaos, proxied=True)
    for name in names:
        h.wait_replicas(chaos.api, chaos.ns, name, 2, timeout=60)
    assert leader.proxy is not None
    # Keep every policy busy: demand moves, so each evaluation has something to write.
    for name in names:
        chaos.demand(name, 3)

    # Still as paired: a leader that lost its Lease on its own (renewals starved by its
    # start-up burst) would make the rest meaningless; say so rather than fail obscurely.
    assert leader.process.running(), "the leader lost its Lease before the fault"
    assert h.lease_holder(chaos.api, chaos.ns) == leader.user, "the Lease moved before the fault"
    cut = chaos.audit.mark()
    leader.proxy.blackhole()
    support.wait_until(
        lambda: h.lease_holder(chaos.api, chaos.ns) == standby.user,
        timeout=LEASE_DURATION + 30,
        what="the standby to take the Lease",
    )
    # The new leader's first write that took effect (its start-up attempts to create the
    # Lease, refused while the old leader held it, do not count).
    taken = chaos.audit.writes(since=cut, namespace=chaos.ns, user=standby.user, succeeded=True)
    first_new = min(e.received for e in taken)
    # The partition heals after the takeover: whatever the old leader still had queued
    # would land now.
    leader.proxy.restore()
    support.wait_until(
        lambda: not leader.process.running(), timeout=60, what="the old leader to exit"
    )
    standby.process.wait_ready(role="leader")
    for name in names:
        h.wait_replicas(chaos.api, chaos.ns, name, 3, timeout=60)

    late = [e for e in chaos.writes(user=leader.user) if e.received >= first_new]
    assert late == [], [(e.received, e.kind, e.name, e.code) for e in late]
    assert leader.process.returncode() == 1  # it knew it lost the Lease

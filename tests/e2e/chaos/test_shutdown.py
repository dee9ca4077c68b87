"""One actor at a time across a clean stop: a leader stopped (SIGTERM) while one of its
policies waits on a tarpit releases its Lease, and never writes after its successor does
(issue 11, item 5). The evidence is the hub's audit log, per operator identity."""

from __future__ import annotations

import datetime
import signal

from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.chaos.leaders import INTERVAL, LEASE_DURATION, pair, policies
from tests.e2e.controller import helpers as h


def test_a_stopped_leader_hands_over_without_two_writers_even_with_a_tarpit(
    chaos: Chaos,
) -> None:
    chaos.prom.tarpit_seconds = 60
    names = policies(chaos, 20)
    chaos.deployment("slow", 1)
    chaos.policy("slow", "slow", mode="tarpit", query_timeout=60, interval=INTERVAL)
    leader, standby = pair(chaos, proxied=False)
    for name in names:
        h.wait_replicas(chaos.api, chaos.ns, name, 2, timeout=90)
    # The tarpitted policy's query is in flight now (it takes 60 s).
    support.wait_until(
        lambda: len(chaos.arrivals("tarpit")) >= 2, timeout=90, what="tarpitted queries"
    )
    for name in names:
        chaos.demand(name, 3)  # work for whoever leads

    assert leader.process.proc is not None
    # Both still as they were: a leader that lost its Lease during its start-up burst (the
    # renewal queued behind the first evaluations) would make the rest meaningless.
    assert leader.process.running(), "the leader exited before the SIGTERM (lost its Lease?)"
    assert standby.process.running(), "the standby exited before the SIGTERM"
    assert h.lease_holder(chaos.api, chaos.ns) == leader.user
    stopped = datetime.datetime.now(datetime.UTC)
    leader.process.proc.send_signal(signal.SIGTERM)
    support.wait_until(
        lambda: h.lease_holder(chaos.api, chaos.ns) == standby.user,
        timeout=LEASE_DURATION + 30,
        what="the standby to take the Lease",
    )
    for name in names:
        h.wait_replicas(chaos.api, chaos.ns, name, 3, timeout=90)
    support.wait_until(
        lambda: not leader.process.running(), timeout=60, what="the old leader to exit"
    )

    old = chaos.writes(user=leader.user)
    # The standby's writes that took effect: its start-up attempt to create the Lease, refused
    # (409) when both start together and the other created it first, changes nothing.
    new = chaos.writes(user=standby.user, succeeded=True)
    last_old = max(e.received for e in old)
    first_new = min(e.received for e in new)
    # One writer at a time: everything the old leader wrote precedes the new one's first.
    assert last_old < first_new, (last_old, first_new)
    # Released, not expired: the old leader's last write is its release of the Lease, and
    # the standby took it before a lease duration passed since the last renewal.
    releases = [e for e in old if e.kind == "leases" and e.received >= stopped]
    assert releases and releases[-1].received == last_old, [(e.kind, e.name) for e in old[-5:]]
    renewals = [e for e in old if e.kind == "leases" and e.received < stopped]
    took = (first_new - max(e.received for e in renewals)).total_seconds()
    assert took < LEASE_DURATION, f"the standby led {took:.1f}s after the last renewal"
    assert leader.process.returncode() == 0

"""Deletions the operator's watch never saw: after a gap that ends in 410 Gone, a policy and a
namespace deleted meanwhile are forgotten, and a policy re-created under the old name is a
new policy (issue 11, item 5)."""

from __future__ import annotations

import time

import pytest

from hack.localcluster import compact
from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.controller import helpers as h

INTERVAL = 5
QUIET = 60.0  # "no activity for the old one after 60 s"


@pytest.mark.timeout(900)
def test_deletions_during_a_watch_gap_leave_no_zombie(private_chaos: Chaos) -> None:
    chaos = private_chaos
    other = support.create_namespace(chaos.api, f"{chaos.ns[:50]}-gone")
    chaos.deployment("old", 1)
    chaos.deployment("new", 1)
    chaos.deployment("t", 1, ns=other)
    chaos.demand("p", 2)
    chaos.demand("q", 2, ns=other)
    chaos.policy("p", "old", interval=INTERVAL, cooldown=5)
    chaos.policy("q", "t", ns=other, interval=INTERVAL, cooldown=5)
    op = chaos.operator("a", namespaces=(chaos.ns, other), proxied=True)
    h.wait_replicas(chaos.api, chaos.ns, "old", 2)
    h.wait_replicas(chaos.api, other, "t", 2)
    assert op.proxy is not None

    # The watch is cut; meanwhile P and Q's namespace are deleted, etcd is compacted and the
    # API server restarts (its watch cache starts afresh): resuming the watch gets 410 Gone.
    op.proxy.blackhole()
    support.custom_objects(chaos.api).delete_namespaced_custom_object(
        h.GROUP, h.VERSION, chaos.ns, h.PLURAL, "p"
    )
    support.core_v1(chaos.api).delete_namespace(other)
    support.wait_until(
        lambda: (
            other
            not in {n.metadata.name for n in support.core_v1(chaos.api).list_namespace().items}
        ),
        timeout=120,
        what=f"namespace {other} gone",
    )
    compact.compact(chaos.local.etcd_url("hub"))
    chaos.local.stop_apiserver("hub", graceful=True)
    chaos.local.start_apiserver("hub")
    op.proxy.restore()
    restored = time.time()

    # P again, on another target; both P's see the same demand, which now changes.
    chaos.policy("p", "new", interval=INTERVAL, cooldown=5)
    chaos.demand("p", 4)
    h.wait_replicas(chaos.api, chaos.ns, "new", 4, timeout=90)
    h.wait_condition(chaos.api, chaos.ns, "p", "Conflict", status_="False")
    support.wait_until(
        lambda: time.time() - restored >= QUIET + 2 * INTERVAL,
        timeout=QUIET + 4 * INTERVAL + 60,
        what="the quiet period",
    )

    quiet_from = restored + QUIET
    after = [
        e
        for e in chaos.audit.writes(since=chaos.mark, user=op.user)
        if e.received.timestamp() >= quiet_from
    ]
    assert not [e for e in after if e.namespace == other], "writes into the deleted namespace"
    old_target = [
        e for e in chaos.writes(user=op.user, name="old") if e.received.timestamp() >= restored
    ]
    assert old_target == [], [(e.kind, e.received) for e in old_target]
    assert h.replicas(chaos.api, chaos.ns, "old") == 2
    assert h.status(chaos.api, chaos.ns, "p")["currentReplicas"] == 4
    metrics = op.process.metrics()
    assert f'"{other}/q"' not in metrics
    assert op.process.running()
    assert "Traceback" not in op.process.log()

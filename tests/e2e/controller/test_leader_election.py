"""Two operator processes against one hub: exactly one acts; the other takes over."""

from __future__ import annotations

import re
import time

from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario

DECISION = re.compile(r"decision (hold|scale_up|scale_down)")
LEASE_DURATION = 6  # what OperatorProcess passes with leader_elect=True


def test_exactly_one_instance_acts_and_a_standby_takes_over(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("ha", 1)
    scenario.demand(2)
    scenario.policy("ha", "ha", cooldown=5)
    a = scenario.start_operator(ns, leader_elect=True, lease_namespace=ns, identity="op-a")
    b = scenario.start_operator(ns, leader_elect=True, lease_namespace=ns, identity="op-b")
    support.wait_until(
        lambda: h.lease_holder(hub_api, ns) in ("op-a", "op-b"), timeout=60, what="a leader"
    )
    leader, standby = (a, b) if h.lease_holder(hub_api, ns) == "op-a" else (b, a)
    leader.wait_ready(role="leader")
    standby.wait_ready(role="standby")
    h.wait_replicas(hub_api, ns, "ha", 2, timeout=40)

    # Only the leader evaluates; the standby runs no kopf at all.
    support.wait_until(
        lambda: "decision scale_up" in leader.log(),
        timeout=20,
        what="the leader's decision in its log",
    )
    assert not DECISION.search(standby.log())
    assert "nimbusguard_leader 1.0" in leader.metrics()
    assert "nimbusguard_leader 0.0" in standby.metrics()

    # The leader dies without releasing the Lease; the standby takes over in time.
    killed_at = time.monotonic()
    leader.kill()
    support.wait_until(
        lambda: h.lease_holder(hub_api, ns) == standby.identity,
        timeout=LEASE_DURATION + 20,
        what="the standby holding the Lease",
    )
    took_over = time.monotonic() - killed_at
    assert took_over <= LEASE_DURATION + 5, f"took {took_over:.1f}s"
    standby.wait_ready(role="leader")
    scenario.demand(4)
    h.wait_replicas(hub_api, ns, "ha", 4, timeout=40)
    support.wait_until(
        lambda: "decision scale_up" in standby.log(),
        timeout=20,
        what="the new leader's decision in its log",
    )

"""Two leader-electing operators for the leadership scenarios, and policies to keep them busy."""

from __future__ import annotations

from typing import Any

from tests.e2e import support
from tests.e2e.chaos.env import Chaos, Operator
from tests.e2e.controller import helpers as h

# The operator's defaults (OperatorProcess's 6/4/1 flaps on a starved 2-core machine: a loop
# that stalls for 4 s while a leader starts its first evaluations loses the Lease).
LEASE_DURATION = 15
LEASE_ARGS = (f"--lease-duration={LEASE_DURATION}", "--renew-deadline=10", "--retry-period=2")
INTERVAL = 5


def pair(chaos: Chaos, *, proxied: bool) -> tuple[Operator, Operator]:
    """Two leader-electing operators; (leader, standby) once both are ready."""
    a = chaos.operator("a", leader_elect=True, proxied=proxied, wait=None, extra_args=LEASE_ARGS)
    b = chaos.operator("b", leader_elect=True, proxied=proxied, wait=None, extra_args=LEASE_ARGS)
    support.wait_until(
        lambda: h.lease_holder(chaos.api, chaos.ns) in (a.user, b.user), timeout=60, what="a leader"
    )
    leader, standby = (a, b) if h.lease_holder(chaos.api, chaos.ns) == a.user else (b, a)
    leader.process.wait_ready(role="leader")
    standby.process.wait_ready(role="standby")
    return leader, standby


def policies(chaos: Chaos, count: int, **kw: Any) -> list[str]:
    names = [f"p{i}" for i in range(count)]
    for name in names:
        chaos.deployment(name, 1)
        chaos.demand(name, 2)
        chaos.policy(name, name, cooldown=5, interval=INTERVAL, **kw)
    return names

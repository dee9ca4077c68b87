"""A member cluster whose API server hangs: only its policies notice, the operator stays
responsive, and everything recovers without a restart (issue 11, item 5)."""

from __future__ import annotations

import itertools
import time

import pytest

from hack.localcluster import freeze, layout
from nimbusguard.clients import kube, target_cache
from tests.e2e.chaos.env import Chaos, conditions
from tests.e2e.controller import helpers as h

INTERVAL = 5
FROZEN_FOR = 60.0


def _reported(chaos: Chaos, name: str, type_: str, status: str) -> list[float]:
    """When (server receive time) the operator's status writes first carried
    `type_`=`status` for policy `name`, from the audit log's request bodies."""
    found = []
    for event in chaos.writes(name=name, resource="scalingpolicies/status", succeeded=True):
        conditions = ((event.request or {}).get("status") or {}).get("conditions") or []
        if any(c.get("type") == type_ and c.get("status") == status for c in conditions):
            found.append(event.received.timestamp())
    return found


@pytest.mark.timeout(600)
def test_a_hung_member_api_server_only_affects_its_policies(private_chaos: Chaos) -> None:
    chaos = private_chaos
    member_ns = chaos.member_namespace()
    chaos.deployment("edge", 1, api=chaos.member_api, ns=member_ns)
    chaos.deployment("core", 1)
    chaos.demand("edge", 2)
    chaos.demand("core", 2)
    chaos.policy(
        "edge", "edge", cluster="member", target_namespace=member_ns, interval=INTERVAL, cooldown=5
    )
    chaos.policy("core", "core", interval=INTERVAL, cooldown=5)
    op = chaos.operator("a")
    h.wait_replicas(chaos.member_api, member_ns, "edge", 2)
    h.wait_replicas(chaos.api, chaos.ns, "core", 2)
    h.wait_condition(chaos.api, chaos.ns, "edge", "ClusterReachable", status_="True")
    pid = chaos.local.pid("member", layout.APISERVER)
    assert pid is not None

    health: list[float] = []
    frozen_at = time.time()
    with freeze.frozen(pid):
        before = len(chaos.queries("core"))
        chaos.demand("core", 3)
        while time.time() - frozen_at < FROZEN_FOR:
            began = time.monotonic()
            code, _ = op.process.get("/healthz")
            health.append(time.monotonic() - began)
            assert code == 200, code
            time.sleep(0.5)  # the probe's own pace, not a synchronisation
        unreachable = _reported(chaos, "edge", "ClusterReachable", "False")
        core_queries = chaos.queries("core")[before:]
        core_replicas = h.replicas(chaos.api, chaos.ns, "core")
    thawed_at = time.time()

    assert unreachable, conditions(chaos, "edge")
    assert max(health) < 1.0, f"/healthz took {max(health):.2f}s"
    # The hub policy kept its cadence and acted meanwhile.
    spaced = [b - a for a, b in itertools.pairwise(core_queries)]
    assert len(core_queries) >= FROZEN_FOR / INTERVAL - 2, core_queries
    assert max(spaced) <= 2 * INTERVAL, spaced
    assert core_replicas == 3

    # Recovery by itself, in the same process.
    h.wait_condition(chaos.api, chaos.ns, "edge", "ClusterReachable", status_="True", timeout=90)
    # The member's own controllers were frozen too: its pods report Ready again only after
    # they catch up (slow on a loaded machine), and the HPA formula holds while they do not.
    h.wait_ready_replicas(chaos.member_api, member_ns, "edge", 2, timeout=90)
    chaos.demand("edge", 3)
    h.wait_replicas(chaos.member_api, member_ns, "edge", 3, timeout=60)
    assert op.process.running()
    assert _reported(chaos, "edge", "ClusterReachable", "True")[-1] > thawed_at
    assert "Traceback" not in op.process.log()
    # Checked last, so a late notice does not hide how the rest went.
    noticed = unreachable[0] - frozen_at
    # The view of the member's targets is trusted for VOUCH_SECONDS after the server was last
    # heard from; then a read GETs and times out (5 s) at the next evaluation.
    budget = INTERVAL + target_cache.VOUCH_SECONDS + kube.READ_TIMEOUT + 5
    assert noticed <= budget, f"ClusterReachable=False {noticed:.1f}s after the freeze"

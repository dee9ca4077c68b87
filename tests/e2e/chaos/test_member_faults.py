"""A member cluster whose credentials expire: only its policies notice, with the right reason,
and it recovers without a restart when they are good again (issue 11, item 5)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e import support
from tests.e2e.chaos import tokens
from tests.e2e.chaos.env import Chaos, conditions
from tests.e2e.controller import helpers as h

INTERVAL = 5
FROZEN_FOR = 60.0


def test_an_expired_member_token_is_unauthorized_then_recovers(
    chaos: Chaos, tmp_path: Path
) -> None:
    member = chaos.local.cluster(chaos.clusters.member_context)
    member_ns = chaos.member_namespace()
    good = tokens.service_account_token(chaos.member_api, member_ns, "nimbusguard")
    kubeconfig = tmp_path / "member.kubeconfig"
    tokens.write_token_kubeconfig(kubeconfig, member, good)
    chaos.deployment("edge", 1, api=chaos.member_api, ns=member_ns)
    chaos.demand("edge", 2)
    chaos.policy(
        "edge", "edge", cluster="member", target_namespace=member_ns, interval=INTERVAL, cooldown=5
    )
    op = chaos.operator("a", member_kubeconfig=kubeconfig)
    h.wait_replicas(chaos.member_api, member_ns, "edge", 2)

    # The Secret is rotated to a token that has expired ...
    tokens.write_token_kubeconfig(
        kubeconfig, member, tokens.expired_token(member, member_ns, "nimbusguard")
    )
    support.wait_until(
        lambda: any(r == "Unauthorized" for _, r in conditions(chaos, "edge").values()),
        timeout=4 * INTERVAL + 30,
        what=f"reason Unauthorized (now {conditions(chaos, 'edge')})",
    )
    assert conditions(chaos, "edge")["Ready"][0] == "False"
    messages = [c["message"] for c in h.status(chaos.api, chaos.ns, "edge")["conditions"]]
    assert not [m for m in messages if "grant" in m], messages  # not RBAC advice

    # ... and back to a good one: it recovers without a restart.
    tokens.write_token_kubeconfig(kubeconfig, member, good)
    h.wait_condition(chaos.api, chaos.ns, "edge", "Ready", status_="True", timeout=60)
    chaos.demand("edge", 3)
    h.wait_replicas(chaos.member_api, member_ns, "edge", 3, timeout=60)
    assert op.process.running()
    assert "Traceback" not in op.process.log()

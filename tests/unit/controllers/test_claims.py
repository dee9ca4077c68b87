"""Which policy owns a target."""

from __future__ import annotations

from controllers import claims


def test_hub_targets_live_in_the_policy_namespace() -> None:
    spec = {"target": {"name": "web", "namespace": "elsewhere"}}
    assert claims.target_key("shop", spec) == ("", "shop", "Deployment", "web")


def test_member_targets_may_name_a_namespace() -> None:
    spec = {
        "target": {"name": "web", "cluster": "member", "namespace": "edge", "kind": "StatefulSet"}
    }
    assert claims.target_key("shop", spec) == ("member", "edge", "StatefulSet", "web")


def test_oldest_claim_wins() -> None:
    found = [
        claims.Claim("2026-11-27T10:00:05Z", "shop", "second", "u2"),
        claims.Claim("2026-11-27T10:00:00Z", "shop", "first", "u1"),
    ]
    assert claims.first_claim(found) == found[1]
    assert claims.first_claim([]) is None

"""Zero replicas: a scale-to-zero policy wakes up under load even when its learner acts, and
a target someone scaled to 0 by hand stays there (issue 11, item 5)."""

from __future__ import annotations

import time

from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.controller import helpers as h

INTERVAL = 5
SLACK = 10.0  # a loaded 2-core machine, on top of the promised bound
IMMEDIATE = {"scaleDown": {"stabilizationWindowSeconds": 0}}


def _woken(values: list[int]) -> bool:
    """Whether the watched replicas went to 0 and later above it."""
    return 0 in values and any(v >= 1 for v in values[values.index(0) :])


def test_min_replicas_zero_with_an_active_learner_wakes_up_under_load(chaos: Chaos) -> None:
    chaos.deployment("app", 1)
    chaos.demand("app", 0)
    chaos.policy(
        "app",
        "app",
        min_replicas=0,
        max_replicas=8,
        cooldown=0,
        interval=INTERVAL,
        behavior=IMMEDIATE,
    )
    chaos.seed_active_table("app")
    history = chaos.scale_history("app")
    op = chaos.operator("a")
    h.wait_phase(chaos.api, chaos.ns, "app", "Active")
    # Idle: down to zero (by the operator itself, not by hand).
    h.wait_replicas(chaos.api, chaos.ns, "app", 0, timeout=120)
    assert [s.request for s in chaos.scales(op.user, "app")][-1] == {"spec": {"replicas": 0}}

    loaded_at = time.time()
    chaos.demand("app", 8)
    support.wait_until(
        lambda: _woken(history.values()), timeout=2 * INTERVAL + 60, what="a wake-up from 0"
    )
    wake = next(
        s
        for s in chaos.scales(op.user, "app")
        if s.received.timestamp() >= loaded_at and (s.request or {})["spec"]["replicas"]
    )
    waited = wake.received.timestamp() - loaded_at
    assert waited <= 2 * INTERVAL + SLACK, f"woke {waited:.1f}s after the load came"
    assert h.status(chaos.api, chaos.ns, "app")["phase"] in ("Active", "Learning")
    assert "Traceback" not in op.process.log()


def test_a_target_scaled_to_zero_by_hand_stays_at_zero_despite_fallback_replicas(
    chaos: Chaos,
) -> None:
    cooldown = 10
    grace = max(cooldown, INTERVAL)
    chaos.deployment("maint", 2)
    chaos.demand("maint", 2)
    chaos.policy(
        "maint",
        "maint",
        min_replicas=1,
        max_replicas=5,
        cooldown=cooldown,
        interval=INTERVAL,
        fallbackReplicas=3,
    )
    op = chaos.operator("a")
    h.wait_condition(chaos.api, chaos.ns, "maint", "MetricsAvailable", status_="True")

    # Maintenance: scaled to 0 by hand; with no pods the query is an empty vector.
    chaos.no_demand("maint")
    support.apps_v1(chaos.api).patch_namespaced_deployment_scale(
        "maint", chaos.ns, {"spec": {"replicas": 0}}
    )
    history = chaos.scale_history("maint")
    by_hand = chaos.audit.mark()
    before = len(chaos.queries("maint"))
    # Three grace periods of evaluations, counted by the (fake) Prometheus server.
    support.wait_until(
        lambda: len(chaos.queries("maint")) >= before + 3 * grace // INTERVAL + 1,
        timeout=3 * grace + 4 * INTERVAL + SLACK,
        what="three grace periods of evaluations",
    )
    assert history.values() == [0], history.values()
    late = [
        e
        for e in chaos.audit.writes(since=by_hand, namespace=chaos.ns, user=op.user)
        if e.kind == "deployments/scale"
    ]
    assert late == [], [(e.received, e.request) for e in late]
    assert h.replicas(chaos.api, chaos.ns, "maint") == 0

"""Writes the API server refuses: a status write lost after a scale, a scale refused for a
while, a crash between the recorded intent and the scale (issue 11, item 5). The evidence is
the hub's audit log (which scale requests succeeded, when) and the watched status history."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from typing import Any

from tests.e2e import support
from tests.e2e.chaos.admission import Denial, scale_refused, status_write_refused
from tests.e2e.chaos.env import Chaos, Operator, gaps
from tests.e2e.chaos.history import StatusHistory
from tests.e2e.controller import helpers as h

INTERVAL = 5
SLACK = 10.0  # a loaded 2-core machine, on top of the promised bound
PROBE_SCALE = {"id": "probe", "fromReplicas": 1, "toReplicas": 1, "time": "2026-01-01T00:00:00Z"}


def _scaled_to(chaos: Chaos, user: str, name: str) -> list[int]:
    return [int((e.request or {})["spec"]["replicas"]) for e in chaos.scales(user, name)]


def _steady(chaos: Chaos, cooldown: int, **kw: Any) -> tuple[Operator, StatusHistory]:
    """Deployment `web` at 1 replica on target, its policy, the status history, an operator."""
    chaos.deployment("web", 1)
    chaos.demand("web", 1)
    chaos.policy("web", "web", cooldown=cooldown, interval=INTERVAL, **kw)
    statuses = chaos.status_history("web")
    op = chaos.operator("a")
    h.wait_condition(chaos.api, chaos.ns, "web", "Ready", status_="True")
    return op, statuses


def _scale_denial(chaos: Chaos, op: Operator, tag: str) -> tuple[Denial, Callable[[], bool]]:
    """A refusal of `op`'s scales of `web`, and a probe saying whether it is enforced."""
    denial = Denial(
        chaos.clusters,
        f"chaos-{tag}-{chaos.ns}",
        group="apps",
        resource="deployments/scale",
        user=op.user,
        namespace=chaos.ns,
    )
    return denial, lambda: scale_refused(chaos.clusters, chaos.ns, "web", op.user)


def test_a_refused_status_write_after_a_scale_never_moves_the_cooldown_back(
    chaos: Chaos,
) -> None:
    cooldown = 30
    # A paused policy whose status writes are always refused: shows when the refusal below
    # is enforced.
    chaos.policy("probe", "probe", paused=True)
    op, statuses = _steady(chaos, cooldown, max_replicas=10)

    # Refuse the operator's first status write that keeps the lastScale of the write before
    # it: the write that follows the intent (and its scale), as if its reply were lost. The
    # refusal is lifted as soon as the audit log shows it happened.
    denial = Denial(
        chaos.clusters,
        f"chaos-status-{chaos.ns}",
        group="nimbusguard.io",
        resource="scalingpolicies/status",
        user=op.user,
        namespace=chaos.ns,
        condition=(
            "object.metadata.name == 'probe' || "
            "has(oldObject.status) && has(oldObject.status.lastScale) "
            "&& has(object.status.lastScale) "
            "&& object.status.lastScale.id == oldObject.status.lastScale.id"
        ),
    )
    try:
        denial.deny(
            lambda: status_write_refused(
                chaos.clusters, chaos.ns, "probe", op.user, {"lastScale": PROBE_SCALE}
            )
        )
        chaos.demand("web", 3)
        support.wait_until(
            lambda: any(
                w.kind == "scalingpolicies/status" and w.code >= 400
                for w in chaos.writes(user=op.user, name="web")
            ),
            timeout=60,
            what="a refused status write after the scale",
        )
        denial.allow()
    finally:
        denial.remove()
    chaos.demand("web", 8)  # wants another scale at once; the cooldown must hold it
    support.wait_until(
        lambda: len(chaos.scales(op.user, "web")) >= 2,
        timeout=cooldown + 4 * INTERVAL + SLACK,
        what="the second scale",
    )
    scales = chaos.scales(op.user, "web")
    assert all(g >= cooldown - 1 for g in gaps(scales)), (
        gaps(scales),
        _scaled_to(chaos, op.user, "web"),
    )
    times = statuses.scaling_times()
    assert times == sorted(times), f"lastScalingTime moved back: {times}"
    assert "Traceback" not in op.process.log()


def test_a_refused_scale_charges_no_cooldown_and_is_retried_once_allowed(chaos: Chaos) -> None:
    cooldown = 60
    op, statuses = _steady(chaos, cooldown)
    denial, refused = _scale_denial(chaos, op, "scale")

    try:
        denial.deny(refused)
        chaos.demand("web", 3)
        support.wait_until(
            lambda: any(
                not e.succeeded for e in chaos.writes(user=op.user, resource="deployments/scale")
            ),
            timeout=4 * INTERVAL + SLACK,
            what="a refused scale",
        )
        first_refusal = min(
            e.received for e in chaos.writes(user=op.user, resource="deployments/scale")
        )
        h.wait_condition(chaos.api, chaos.ns, "web", "Ready", status_="False", reason="ScaleFailed")
        # Refused for 20 s from the first attempt.
        support.wait_until(
            lambda: (
                datetime.datetime.now(datetime.UTC) - first_refusal
                >= datetime.timedelta(seconds=20)
            ),
            timeout=30,
            what="20 s of refusals",
        )
        assert h.condition(chaos.api, chaos.ns, "web", "Ready")["reason"] == "ScaleFailed"
        assert h.replicas(chaos.api, chaos.ns, "web") == 1
        denial.allow(lambda: not refused())
        allowed_at = datetime.datetime.now(datetime.UTC)
    finally:
        denial.remove()

    support.wait_until(
        lambda: bool(chaos.scales(op.user, "web")),
        timeout=2 * INTERVAL + 2 * SLACK,
        what="the scale once allowed",
    )
    (scale,) = chaos.scales(op.user, "web")
    took = (scale.received - allowed_at).total_seconds()
    assert took <= 2 * INTERVAL + SLACK, f"scaled {took:.1f}s after the refusal ended"
    assert _scaled_to(chaos, op.user, "web") == [3]
    # The cooldown runs from the real scale, not from a refused attempt.
    h.wait_condition(chaos.api, chaos.ns, "web", "Ready", status_="True")
    times = statuses.scaling_times()
    assert times and abs((times[-1] - scale.received).total_seconds()) <= 2, (times, scale)
    assert "Traceback" not in op.process.log()


def test_a_crash_between_intent_and_scale_scales_once_then_waits_a_cooldown(
    chaos: Chaos,
) -> None:
    cooldown = 20
    op, statuses = _steady(chaos, cooldown)
    denial, refused = _scale_denial(chaos, op, "crash")

    try:
        denial.deny(refused)
        chaos.demand("web", 3)
        # The intent is recorded (a new lastScale.id), its scale is refused: crash now.
        support.wait_until(
            lambda: any(v[1] for v in statuses.values()),
            timeout=4 * INTERVAL + SLACK,
            what="a recorded scale intent",
        )
        intent_seen = datetime.datetime.now(datetime.UTC)
        op.process.kill()
        denial.allow(lambda: not refused())
    finally:
        denial.remove()
    # Restart after the cooldown (plus 5 s), with the same identity.
    support.wait_until(
        lambda: (
            datetime.datetime.now(datetime.UTC) - intent_seen
            >= datetime.timedelta(seconds=cooldown + 5)
        ),
        timeout=cooldown + 10,
        what="the cooldown to pass",
    )
    again = chaos.operator("a")
    assert again.user == op.user
    support.wait_until(
        lambda: bool(chaos.scales(op.user, "web")),
        timeout=4 * INTERVAL + SLACK,
        what="the scale after the restart",
    )
    chaos.demand("web", 6)
    support.wait_until(
        lambda: len(chaos.scales(op.user, "web")) >= 2,
        timeout=cooldown + 4 * INTERVAL + SLACK,
        what="the next scale",
    )
    scales = chaos.scales(op.user, "web")
    assert _scaled_to(chaos, op.user, "web")[:2] == [3, 6], _scaled_to(chaos, op.user, "web")
    assert all(g >= cooldown - 1 for g in gaps(scales)), gaps(scales)
    # The status's record agrees: each lastScalingTime follows the one before by a cooldown.
    times = statuses.scaling_times()
    real = [t for t in times if t >= scales[0].received.replace(microsecond=0)]
    assert all((b - a).total_seconds() >= cooldown - 1 for a, b in itertools.pairwise(real)), real
    assert "Traceback" not in again.process.log()

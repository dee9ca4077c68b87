"""A Prometheus that answers garbage: every kind of bad answer is "metric unavailable", the
fallback ladder runs on time, and evaluations keep their cadence (issue 11, item 5)."""

from __future__ import annotations

import itertools

from tests.e2e import support
from tests.e2e.chaos import fakeprom
from tests.e2e.chaos.env import Chaos
from tests.e2e.controller import helpers as h

BAD = [*fakeprom.MODES, fakeprom.TARPIT, fakeprom.REDIRECT]
INTERVAL, COOLDOWN, FALLBACK = 5, 10, 2
GRACE = max(INTERVAL, COOLDOWN)  # nimbusguard/workflow/fallback.py: grace of the ladder
# Slack for a loaded 2-core machine on top of the promised bounds.
SLACK = 10.0


def test_every_bad_prometheus_answer_gives_metrics_unavailable_and_the_fallback(
    chaos: Chaos,
) -> None:
    fake = chaos.prom
    fake.tarpit_seconds = 70
    for mode in BAD:
        chaos.deployment(mode, 1)
        chaos.policy(
            mode,
            mode,
            mode=mode,
            interval=INTERVAL,
            cooldown=COOLDOWN,
            max_replicas=3,
            fallbackReplicas=FALLBACK,
        )
    op = chaos.operator("a")

    for mode in BAD:
        h.wait_replicas(chaos.api, chaos.ns, mode, FALLBACK, timeout=GRACE + 4 * INTERVAL + 60)
    for mode in BAD:
        h.wait_condition(chaos.api, chaos.ns, mode, "MetricsAvailable", status_="False")
        h.wait_condition(chaos.api, chaos.ns, mode, "Fallback", status_="True")

    for mode in BAD:
        # The servers' record: the first bad answer (the fake Prometheus), then exactly one
        # scale (the API server), to the floor, at most an interval after the grace period.
        # (The grace may count from adoption, when the metric was not available either.)
        first_failure = chaos.arrivals(mode)[0]
        scales = chaos.scales(op.user, mode)
        assert len(scales) == 1, (mode, [(s.received, s.request) for s in scales])
        assert (scales[0].request or {}).get("spec", {}).get("replicas") == FALLBACK, mode
        took = scales[0].received.timestamp() - first_failure
        assert took <= GRACE + INTERVAL + SLACK, (mode, took)
        assert "FallbackActivated" in h.event_reasons(chaos.api, chaos.ns, mode), mode

    # Cadence: every policy's queries keep reaching the server an interval apart, the
    # tarpitted one included (its queries time out, they do not pile up or stop).
    for mode in BAD:
        support.wait_until(
            lambda mode=mode: len(chaos.arrivals(mode)) >= 6,  # type: ignore[misc]
            timeout=6 * INTERVAL + SLACK,
            what=f"six queries of policy {mode}",
        )
        arrivals = chaos.arrivals(mode)
        spaced = [b - a for a, b in itertools.pairwise(arrivals)]
        # The promise: no more than one interval late (plus the loaded machine's slack).
        assert max(spaced) <= 2 * INTERVAL + SLACK, (mode, spaced)

    assert "Traceback" not in op.process.log()
    assert op.process.running()
    # Status writes are evidence too: none failed (a frozen or rejected status would).
    assert not [w for w in chaos.writes(user=op.user) if not w.succeeded and w.code != 409]

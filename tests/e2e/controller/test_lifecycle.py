"""The policy lifecycle on a real API server: phases, status, events, cooldowns, deletion."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario


def test_missing_target_is_an_error_until_the_target_appears(
    e2e_clusters: support.E2EClusters, scenario: Scenario
) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.demand(2)
    scenario.policy("web", "web")
    scenario.operator()

    h.wait_phase(hub_api, ns, "web", "Error")
    found = h.condition(hub_api, ns, "web", "TargetFound")
    assert (found["status"], found["reason"]) == ("False", "TargetNotFound")
    assert "does not exist" in h.condition(hub_api, ns, "web", "Ready")["message"]
    support.wait_until(
        lambda: {"TargetNotFound", "PhaseChanged"} <= h.event_reasons(hub_api, ns, "web"),
        timeout=30,
        what="TargetNotFound and PhaseChanged events",
    )

    # No manual step: the policy recovers as soon as the Deployment exists.
    scenario.deployment("web", 2)
    h.wait_phase(hub_api, ns, "web", "Learning")
    st = h.status(hub_api, ns, "web")
    assert st["currentReplicas"] == 2
    assert st["observedGeneration"] == h.get_policy(hub_api, ns, "web")["metadata"]["generation"]
    assert h.condition(hub_api, ns, "web", "TargetFound")["status"] == "True"
    assert h.condition(hub_api, ns, "web", "Ready")["status"] == "True"
    assert st["lastDecision"]["mode"] == "baseline"
    assert 0 <= st["lastDecision"]["confidence"] <= 1
    assert st["lastDecision"]["reasoning"]
    assert st["metrics"]["totalDecisions"] >= 1

    # `kubectl get` shows it at a glance.
    out = e2e_clusters.kubectl(e2e_clusters.hub_context, "get", "sp", "-n", ns).stdout
    header, row = out.strip().splitlines()
    assert header.split() == [
        "NAME", "TARGET", "METRIC", "MIN", "MAX", "REPLICAS", "ACTING", "PHASE", "READY", "AGE"
    ]  # fmt: skip
    cells = row.split()
    assert cells[:2] == ["web", "web"]
    assert re.fullmatch(r"[\d.]+/1", cells[2]), cells[2]  # per-replica demand / target 1
    assert cells[3:9] == ["1", "10", "2", "hpa", "Learning", "True"]


def test_scales_on_a_prometheus_metric_and_honours_the_cooldown_across_restarts(
    scenario: Scenario,
) -> None:
    hub_api, ns, cooldown = scenario.api, scenario.ns, 20
    scenario.deployment("api", 2)
    scenario.demand(2)  # exactly on target: 1 per replica
    scenario.policy("api", "api", cooldown=cooldown, interval=5, maxReplicas=10)
    operator = scenario.operator()
    h.wait_phase(hub_api, ns, "api", "Learning")
    recorder = h.ReplicaRecorder(hub_api, ns, "api")

    scenario.demand(4)  # twice the target: the HPA formula asks for 4
    support.wait_until(lambda: recorder.poll() == 4, timeout=40, what="scale-up to 4")
    # The scale record and the status follow the scale (two writes after it).
    support.wait_until(
        lambda: _scale_ups(hub_api, ns) == 1, timeout=15, what="status after the scale"
    )
    st = h.status(hub_api, ns, "api")
    assert st["lastScale"]["toReplicas"] == 4
    assert st["lastScale"]["state"] == "Succeeded"
    assert st["lastScalingTime"] and st["nextScaleTime"]
    assert "ScaledUp" in h.event_reasons(hub_api, ns, "api")
    scaled = [e for e in h.events(hub_api, ns, "api") if e.reason == "ScaledUp"]
    assert re.search(r"2 → 4 \(baseline", scaled[0].message)

    # More load right away: the cooldown holds it, and says so.
    scenario.demand(8)
    support.wait_until(
        lambda: h.status(hub_api, ns, "api").get("lastDecision", {}).get("mode") == "cooldown",
        timeout=30,
        what="a decision held by the cooldown",
    )
    assert "cooldown" in h.status(hub_api, ns, "api")["lastDecision"]["reasoning"]

    # A crash and a restart do not reset the cooldown: status is the memory.
    operator.kill()
    operator = scenario.operator()
    next_time = h.status(hub_api, ns, "api")["nextScaleTime"]
    deadline = time.monotonic() + cooldown + 30
    while recorder.poll() != 8 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert recorder.current() == 8, f"no scale-up after the cooldown (next {next_time})"
    assert all(gap >= cooldown - 1 for gap in recorder.gaps()), recorder.changes
    support.wait_until(
        lambda: _scale_ups(hub_api, ns) == 2, timeout=15, what="status after the second scale"
    )


def _scale_ups(api: Any, ns: str) -> int:
    return int((h.status(api, ns, "api").get("metrics") or {}).get("scaleUps", 0))


def test_paused_policy_keeps_the_replicas(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("batch", 1)
    scenario.demand(5)
    scenario.policy("batch", "batch", paused=True)
    scenario.operator()
    h.wait_phase(hub_api, ns, "batch", "Paused")
    assert h.condition(hub_api, ns, "batch", "Ready")["reason"] == "Paused"
    # Several evaluation intervals pass without a change.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        assert h.replicas(hub_api, ns, "batch") == 1
        time.sleep(0.5)

    h.patch_policy(hub_api, ns, "batch", {"spec": {"paused": False}})
    h.wait_replicas(hub_api, ns, "batch", 5, timeout=40)
    h.wait_phase(hub_api, ns, "batch", "Learning")


def test_deletion_is_quick_leaves_the_target_and_drops_the_series(scenario: Scenario) -> None:
    hub_api, ns = scenario.api, scenario.ns
    scenario.deployment("gone", 1)
    scenario.demand(3)
    scenario.policy("gone", "gone")
    operator = scenario.operator()
    h.wait_replicas(hub_api, ns, "gone", 3)
    support.wait_until(
        lambda: f'policy="{ns}/gone"' in operator.metrics(),
        timeout=30,
        what="a per-policy series in /metrics",
    )

    # No finalizer: an uninstalled operator can never block the deletion of a policy or of
    # its namespace.
    assert not h.get_policy(hub_api, ns, "gone")["metadata"].get("finalizers")
    started = time.monotonic()
    support.custom_objects(hub_api).delete_namespaced_custom_object(
        h.GROUP, h.VERSION, ns, h.PLURAL, "gone"
    )
    support.wait_until(lambda: not h.exists(hub_api, ns, "gone"), timeout=20, what="deletion")
    assert time.monotonic() - started < 15
    assert h.replicas(hub_api, ns, "gone") == 3
    support.wait_until(
        lambda: f'policy="{ns}/gone"' not in operator.metrics(),
        timeout=10,
        what="per-policy series removed",
    )

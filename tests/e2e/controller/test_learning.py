"""The learner in the loop, against real API servers and a real Prometheus.

The load generator exposes a utilization computed from a load schedule and the target's
ready replicas, read from the API server at scrape time; Prometheus scrapes it; the operator
queries Prometheus. Nothing in between is faked.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from controllers import refresh
from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario

TARGET = 0.5  # utilization per replica the policy aims at
# Counters alone (the learner's updates, its last save) go out with a routine status refresh;
# these tests wait for them, so their operators refresh every 10 s instead of every minute.
REFRESH_SECONDS = 10.0
REFRESH_ARGS = (f"--status-refresh-seconds={REFRESH_SECONDS:g}",)


class Load:
    """Demand in "replicas at 100 %" that the test changes; utilization = demand ÷ ready."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        self.demand = 1.0
        self._api, self._ns, self._name = api, namespace, name

    def utilization(self) -> float:
        ready = h.ready_replicas(self._api, self._ns, self._name)
        return self.demand / max(ready, 1)


@pytest.fixture
def own_prometheus() -> Iterator[tuple[LocalPrometheus, LoadExporter]]:
    """A Prometheus of this test's own (the test kills it) and its exporter."""
    exporter = LoadExporter("e2e_utilization", "Utilization per ready replica.")
    scrape = [{"job_name": "loop", "static_configs": [{"targets": [exporter.target]}]}]
    with LocalPrometheus(scrape) as prom:
        yield prom, exporter
    exporter.close()


def _utilization_policy(name: str, prom: LocalPrometheus, **scaling: Any) -> dict[str, Any]:
    body = h.policy_body(name, name, query="x", prometheus_url=prom.url, **scaling)
    body["spec"]["metrics"]["prometheus"].update(
        {
            "query": f'max(e2e_utilization{{series="{name}"}})',
            "targetValue": TARGET,
            "metricType": "Value",
        }
    )
    return body


def test_closed_loop_scales_up_fast_down_after_the_cooldown_and_falls_back_safely(
    scenario: Scenario, own_prometheus: tuple[LocalPrometheus, LoadExporter]
) -> None:
    prom, exporter = own_prometheus
    api, ns, cooldown, interval = scenario.api, scenario.ns, 20, 5
    scenario.deployment("loop", 2)
    load = Load(api, ns, "loop")
    exporter.set("loop", load.utilization)
    body = _utilization_policy(
        "loop",
        prom,
        cooldown=cooldown,
        interval=interval,
        minReplicas=1,
        maxReplicas=12,
        behavior={"scaleDown": {"stabilizationWindowSeconds": 0}},
    )
    h.create_policy(api, ns, body)
    scenario.operator()
    h.wait_phase(api, ns, "loop", "Learning")
    recorder = h.ReplicaRecorder(api, ns, "loop")

    # A load step up: scaled within a few evaluations.
    load.demand = 3.0  # needs 6 replicas at 0.5
    stepped = time.monotonic()
    support.wait_until(
        lambda: recorder.poll() >= 6,
        timeout=6 * interval + 10,
        what="the scale-up after a load step",
    )
    assert time.monotonic() - stepped <= 5 * interval + 5
    up_at = recorder.changes[-1][0]

    # A step down: nothing before the cooldown has passed.
    load.demand = 1.0
    support.wait_until(
        lambda: recorder.poll() < 6,
        timeout=cooldown + 6 * interval,
        what="the scale-down after the cooldown",
    )
    assert recorder.changes[-1][0] - up_at >= cooldown - 1
    st = h.status(api, ns, "loop")
    assert st["learning"]["epsilon"] <= 1.0
    assert st["lastDecision"]["reasoning"]

    # Prometheus dies: Fallback, and the replicas stay where they are.
    settled = recorder.poll()
    prom.kill()
    h.wait_condition(api, ns, "loop", "Fallback", status_="True", timeout=4 * interval + 10)
    assert h.condition(api, ns, "loop", "MetricsAvailable")["status"] == "False"
    load.demand = 0.1  # would mean scaling down, if anybody could see it
    deadline = time.monotonic() + 3 * interval
    while time.monotonic() < deadline:
        assert recorder.poll() >= settled
        time.sleep(0.5)
    support.wait_until(
        lambda: "FallbackActivated" in h.event_reasons(api, ns, "loop"),
        timeout=20,
        what="a FallbackActivated event",
    )

    # It comes back: decisions on the metric again.
    prom.start()
    h.wait_condition(api, ns, "loop", "MetricsAvailable", status_="True", timeout=6 * interval + 10)


def test_the_q_table_survives_a_crash(
    scenario: Scenario, own_prometheus: tuple[LocalPrometheus, LoadExporter]
) -> None:
    prom, exporter = own_prometheus
    api, ns = scenario.api, scenario.ns
    scenario.deployment("mem", 2)
    load = Load(api, ns, "mem")
    load.demand = 1.5
    exporter.set("mem", load.utilization)
    body = _utilization_policy("mem", prom, cooldown=5, interval=5, maxReplicas=8)
    body["spec"]["aiConfig"] = {
        "persistIntervalSeconds": 5,
        "decisionHorizonSeconds": 5,
        "qLearning": {"epsilonDecayDecisions": 50},
    }
    h.create_policy(api, ns, body)
    operator = scenario.operator(extra_args=REFRESH_ARGS)

    def persisted() -> dict[str, Any]:
        st = h.status(api, ns, "mem").get("learning") or {}
        return st if st.get("lastPersistTime") and st.get("updates", 0) >= 3 else {}

    # The first save is news (QTableSaved), but it may come before the third update; the
    # counters then go out with the next routine refresh, up to two periods after it.
    support.wait_until(
        lambda: bool(persisted()),
        timeout=refresh.stalest(REFRESH_SECONDS) + 60,
        what="a persisted Q-table",
    )
    # The table lives where the operator keeps its state (here: the test's namespace), named
    # by the policy's uid.
    uid = h.get_policy(api, ns, "mem")["metadata"]["uid"]
    assert persisted()["qTableConfigMap"] == f"{ns}/nimbusguard-qtable-{uid}"
    cm = support.core_v1(api).read_namespaced_config_map(f"nimbusguard-qtable-{uid}", ns)
    assert cm.metadata.labels["nimbusguard.io/policy-uid"] == uid
    assert len(base64.b64decode(cm.binary_data["qtable.npz"])) > 0
    before = persisted()

    operator.kill()  # no chance to write anything more
    scenario.operator(extra_args=REFRESH_ARGS)
    h.wait_condition(api, ns, "mem", "QTableLoaded", reason="Restored")
    after = h.status(api, ns, "mem")["learning"]
    # Learning continues from the persisted table: at most one window lost, epsilon not reset.
    assert after["updates"] >= before["updates"] - 1
    assert after["epsilon"] <= before["epsilon"] + 1e-9


def test_a_q_table_the_api_server_refuses_is_a_condition_until_it_is_saved(
    scenario: Scenario, own_prometheus: tuple[LocalPrometheus, LoadExporter]
) -> None:
    """A quota of no ConfigMaps in the namespace where the tables live: the API server
    refuses the table's creation. QTableSaved says so with the API server's reason, one
    Warning Event, the learner keeps learning in memory; once the quota is gone the next
    evaluation writes the table."""
    prom, exporter = own_prometheus
    api, ns = scenario.api, scenario.ns
    core = support.core_v1(api)
    core.create_namespaced_resource_quota(
        ns, {"metadata": {"name": "no-configmaps"}, "spec": {"hard": {"count/configmaps": "0"}}}
    )
    # Admission enforces a quota once the quota controller has counted what it covers.
    support.wait_until(
        lambda: bool(core.read_namespaced_resource_quota("no-configmaps", ns).status.used),
        timeout=30,
        what="the quota counted",
    )
    scenario.deployment("refused", 2)
    load = Load(api, ns, "refused")
    load.demand = 1.5
    exporter.set("refused", load.utilization)
    body = _utilization_policy("refused", prom, cooldown=5, interval=5, maxReplicas=8)
    body["spec"]["aiConfig"] = {"persistIntervalSeconds": 5, "decisionHorizonSeconds": 5}
    h.create_policy(api, ns, body)
    scenario.operator(extra_args=REFRESH_ARGS)

    h.wait_condition(
        api, ns, "refused", "QTableSaved", status_="False", reason="QTableSaveFailed", timeout=120
    )
    refused = h.condition(api, ns, "refused", "QTableSaved")
    assert "quota" in refused["message"], refused["message"]
    support.wait_until(
        lambda: "QTableSaveFailed" in h.event_reasons(api, ns, "refused"),
        timeout=20,
        what="a QTableSaveFailed event",
    )
    learned = h.status(api, ns, "refused")["learning"]["updates"]
    support.wait_until(  # counters alone go out with a routine refresh
        lambda: h.status(api, ns, "refused")["learning"]["updates"] > learned,
        timeout=refresh.stalest(REFRESH_SECONDS) + 30,
        what="learning going on while the table cannot be written",
    )

    core.delete_namespaced_resource_quota("no-configmaps", ns)
    h.wait_condition(api, ns, "refused", "QTableSaved", status_="True", reason="Saved", timeout=60)
    uid = h.get_policy(api, ns, "refused")["metadata"]["uid"]
    cm = core.read_namespaced_config_map(f"nimbusguard-qtable-{uid}", ns)
    assert len(base64.b64decode(cm.binary_data["qtable.npz"])) > 0
    assert h.status(api, ns, "refused")["learning"]["lastPersistTime"]
    support.wait_until(
        lambda: "QTableSaved" in h.event_reasons(api, ns, "refused"),
        timeout=20,
        what="a QTableSaved event",
    )


def test_a_corrupt_q_table_is_kept_and_the_policy_starts_afresh(scenario: Scenario) -> None:
    api, ns = scenario.api, scenario.ns
    scenario.deployment("bad", 1)
    scenario.demand(1)
    scenario.policy("bad", "bad")
    table = f"nimbusguard-qtable-{h.get_policy(api, ns, 'bad')['metadata']['uid']}"
    support.core_v1(api).create_namespaced_config_map(
        ns,
        {
            "metadata": {"name": table},
            "binaryData": {"qtable.npz": base64.b64encode(b"garbage").decode()},
        },
    )
    scenario.operator()
    h.wait_condition(api, ns, "bad", "QTableLoaded", reason="QTableCorrupt")
    kept = [
        cm.metadata.name
        for cm in support.core_v1(api).list_namespaced_config_map(ns).items
        if cm.metadata.name.startswith(f"{table}-corrupt-")
    ]
    assert kept, "the unreadable table was not kept"
    h.wait_phase(api, ns, "bad", "Learning")
    support.wait_until(
        lambda: "QTableCorrupt" in h.event_reasons(api, ns, "bad"),
        timeout=20,
        what="a QTableCorrupt event",
    )

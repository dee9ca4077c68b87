"""The Grafana dashboard and the alerts read only series the operator exports; each alert has a
runbook; promtool accepts the rules and fires each alert on its symptom, and only then."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controllers import observability
from tests.unit.packaging import promql
from tests.unit.packaging.conftest import CONFIG, ROOT

DASHBOARD = CONFIG / "grafana" / "nimbusguard-dashboard.json"
RULES = CONFIG / "prometheus" / "prometheus_rule.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_BASE = "https://github.com/nimbusguard/nimbusguard-operator/blob/main/docs/runbooks.md#"
KNOWN = promql.exported(observability.Metrics())


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def _alerts() -> list[dict[str, Any]]:
    rule = yaml.safe_load(RULES.read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_the_known_series_come_from_the_operator_registry() -> None:
    assert "nimbusguard_decisions_total" in KNOWN
    assert KNOWN["nimbusguard_decisions_total"] == {"action", "mode"}
    assert "nimbusguard_reconcile_duration_seconds_bucket" in KNOWN


@pytest.mark.parametrize(("title", "expr"), _dashboard_exprs(), ids=lambda v: str(v)[:60])
def test_every_dashboard_query_reads_exported_series(title: str, expr: str) -> None:
    assert promql.problems(expr, KNOWN) == [], title


def test_the_dashboard_covers_what_the_issue_asks() -> None:
    text = " ".join(expr for _, expr in _dashboard_exprs())
    for series in (
        "nimbusguard_decisions_total",
        "nimbusguard_q_learning_epsilon",
        "nimbusguard_reward",
        "nimbusguard_regret",
        "nimbusguard_fallbacks_total",
        "nimbusguard_scaling_actions_total",
        "nimbusguard_reconcile_duration_seconds_bucket",
        "nimbusguard_policies_by_phase",
        "nimbusguard_policy_replicas",
    ):
        assert series in text, series
    assert "by (mode)" in text


def test_the_dashboard_policy_variable_reads_an_exported_label() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "policy"]
    series, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"]).groups()  # type: ignore[union-attr]
    assert label in KNOWN[series]


def test_the_checker_catches_a_wrong_series_and_a_wrong_label() -> None:
    assert promql.problems("rate(nimbusguard_decision_total[5m])", KNOWN)
    assert promql.problems('sum by (policy) (nimbusguard_decisions_total{mode="x"})', KNOWN)


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: a["alert"])
def test_every_alert_reads_exported_series_and_links_its_runbook(alert: dict[str, Any]) -> None:
    assert promql.problems(alert["expr"], KNOWN) == []
    assert alert["labels"]["severity"] in ("critical", "warning")
    url = alert["annotations"]["runbook_url"]
    assert url == RUNBOOK_BASE + alert["alert"].lower()
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    assert alert["alert"].lower() in headings


def test_every_runbook_section_has_an_alert() -> None:
    alerts = {a["alert"] for a in _alerts()}
    sections = {
        line.removeprefix("## ").strip()
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## NimbusGuard")
    }
    assert sections == alerts


MONITOR = CONFIG / "prometheus" / "monitor.yaml"


def test_alerts_and_dashboard_select_the_job_label_the_monitor_sets() -> None:
    # The default job label is the Service's name, which overlays prefix; the monitor pins it.
    monitor = yaml.safe_load(MONITOR.read_text())
    (endpoint,) = monitor["spec"]["endpoints"]
    (job,) = [
        r["replacement"] for r in endpoint.get("relabelings", []) if r["targetLabel"] == "job"
    ]
    exprs = [a["expr"] for a in _alerts()] + [expr for _, expr in _dashboard_exprs()]
    selected = [m for expr in exprs for m in re.findall(r'job="([^"]+)"', expr)]
    assert len(selected) >= 2, "the operator-down alert and the instances panel select by job"
    assert set(selected) == {job}


# promtool ------------------------------------------------------------------------------------

JOB = 'job="nimbusguard-operator"'


def _series(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"series": s, "values": v} for s, v in pairs]


def _buckets(
    name: str = "nimbusguard_reconcile_duration_seconds_bucket", **values: str
) -> list[dict[str, str]]:
    return _series(
        *((f'{name}{{le="{le.replace("inf", "+Inf")}"}}', v) for le, v in values.items())
    )


# (alert, input series at 1m steps, evaluation time, labels of the firing alert or None for
# "must not fire", what {{ $value }} renders to)
CASES: list[tuple[str, list[dict[str, str]], str, dict[str, str] | None, str]] = [
    ("NimbusGuardOperatorDown", _series((f"up{{{JOB}}}", "0x20")), "10m", {}, ""),
    ("NimbusGuardOperatorDown", _series((f"up{{{JOB}}}", "1x20")), "10m", None, ""),
    (
        "NimbusGuardEvaluationsStalled",
        _series(
            ('nimbusguard_policies_by_phase{phase="Learning"}', "2x200"),
            ("nimbusguard_workflows_total", "5x200"),
        ),
        "100m",
        {},
        "2",
    ),
    (
        "NimbusGuardEvaluationsStalled",
        _series(
            ('nimbusguard_policies_by_phase{phase="Learning"}', "2x200"),
            ("nimbusguard_workflows_total", "0+1x200"),
        ),
        "100m",
        None,
        "",
    ),
    (
        "NimbusGuardPolicyInError",
        _series(('nimbusguard_policies_by_phase{phase="Error"}', "1x30")),
        "20m",
        {},
        "1",
    ),
    (
        "NimbusGuardPolicyInError",
        _series(('nimbusguard_policies_by_phase{phase="Error"}', "1x10 0x20")),
        "20m",
        None,
        "",
    ),
    (
        "NimbusGuardFallbackActive",
        _series(('nimbusguard_fallbacks_total{policy="ns/web",rung="hold"}', "0+1x60")),
        "50m",
        {"policy": "ns/web"},
        "",
    ),
    (
        "NimbusGuardFallbackActive",
        _series(('nimbusguard_fallbacks_total{policy="ns/web",rung="hold"}', "0+1x5 5x60")),
        "50m",
        None,
        "",
    ),
    (
        "NimbusGuardScalingStuck",
        _series(
            ('nimbusguard_policy_replicas{policy="ns/web",kind="desired"}', "5x30"),
            ('nimbusguard_policy_replicas{policy="ns/web",kind="current"}', "3x30"),
        ),
        "20m",
        {"policy": "ns/web"},
        "",
    ),
    (
        "NimbusGuardScalingStuck",
        _series(
            ('nimbusguard_policy_replicas{policy="ns/web",kind="desired"}', "5x30"),
            ('nimbusguard_policy_replicas{policy="ns/web",kind="current"}', "3x5 5x25"),
        ),
        "20m",
        None,
        "",
    ),
    (
        "NimbusGuardReconcileSlow",
        _buckets(**{"1": "0x40", "5": "0x40", "10": "0+10x40", "inf": "0+10x40"}),
        "30m",
        {},
        "9.95s",
    ),
    (
        "NimbusGuardReconcileSlow",
        _buckets(**{"1": "0+10x40", "5": "0+10x40", "10": "0+10x40", "inf": "0+10x40"}),
        "30m",
        None,
        "",
    ),
    (
        "NimbusGuardEvaluationLagging",
        _buckets(
            **{"1": "0x40", "5": "0x40", "10": "0+10x40", "inf": "0+10x40"},
            name="nimbusguard_evaluation_lag_seconds_bucket",
        )
        + _series(("nimbusguard_evaluation_overdue_seconds", "0x40")),
        "30m",
        {},
        "9.95s",
    ),
    (
        "NimbusGuardEvaluationLagging",
        _series(("nimbusguard_evaluation_overdue_seconds", "0+10x40")),
        "30m",
        {},
        "5m 0s",
    ),
    (
        "NimbusGuardEvaluationLagging",
        _buckets(
            **{"1": "0+10x40", "5": "0+10x40", "10": "0+10x40", "inf": "0+10x40"},
            name="nimbusguard_evaluation_lag_seconds_bucket",
        )
        + _series(("nimbusguard_evaluation_overdue_seconds", "0x40")),
        "30m",
        None,
        "",
    ),
    (
        "NimbusGuardStandbyNotFollowing",
        _series(('nimbusguard_standby_table_errors_total{operation="list"}', "0+2x60")),
        "50m",
        {},
        "",
    ),
    (
        "NimbusGuardStandbyNotFollowing",
        # One failed listing, then none: a blip.
        _series(('nimbusguard_standby_table_errors_total{operation="list"}', "0 1x60")),
        "50m",
        None,
        "",
    ),
]


def _expected(name: str, labels: dict[str, str] | None, value: str) -> list[dict[str, Any]]:
    """The alert promtool must report: the rule's labels and its annotations rendered."""
    if labels is None:
        return []
    rule = next(a for a in _alerts() if a["alert"] == name)
    annotations = {}
    for key, text in rule["annotations"].items():
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        annotations[key] = re.sub(r"\{\{ \$value( \| \w+)? \}\}", value, text)
    return [{"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}]


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (`make prometheus` installs Debian's prometheus)")
    return found


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's groups as a plain Prometheus rules file."""
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": yaml.safe_load(RULES.read_text())["spec"]["groups"]}))
    return path


def test_promtool_accepts_the_rules(promtool: str, rules_file: Path) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(_alerts())} rules found" in done.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {a["alert"] for a in _alerts()}
    assert {c[0] for c in CASES if c[3] is not None} == alerts
    assert {c[0] for c in CASES if c[3] is None} == alerts


def test_each_alert_fires_on_its_symptom_and_only_then(
    promtool: str, rules_file: Path, tmp_path: Path
) -> None:
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": at, "alertname": name, "exp_alerts": _expected(name, labels, value)}
            ],
        }
        for name, series, at, labels, value in CASES
    ]
    spec = tmp_path / "tests.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "tests": tests}))
    done = subprocess.run(
        [promtool, "test", "rules", str(spec)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr

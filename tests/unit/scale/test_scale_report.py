"""The scale benchmark's report: table, goals, sizing, and the generated doc section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import scale, scale_report as report


def run(n: int, cores: float, rss: float, lag99: float) -> dict[str, Any]:
    requests = {"by_cluster": {"hub": {"PATCH scalingpolicies/status": n / 60}}, "429": 0.0,
                "total_per_second": 2.0 * n / 15}  # fmt: skip
    return {
        "policies": n,
        "interval": 15,
        "first_round_seconds": 10.0,
        "background": {"requests": {"by_cluster": {"hub": {}}, "total_per_second": 5.0}},
        "steady": {
            "evaluations_per_second": n / 15,
            "expected_evaluations_per_second": n / 15,
            "lag_p50": 0.1,
            "lag_p99": lag99,
            "evaluation_p50": 0.01,
            "evaluation_p99": 0.05,
            "operator_cores": cores,
            "operator_rss_mb": rss,
            "apiserver_cores": 0.3,
            "requests": requests,
            "peak_inflight": 3.0,
            "prometheus_queries_per_second": n / 15,
            "status_writes_per_policy_minute": 1.0,
        },
    }


RUNS = [run(250, 0.15, 150, 0.4), run(500, 0.3, 175, 0.6), run(1000, 0.6, 225, 1.5)]


def test_the_table_has_a_row_per_run_and_goals_name_what_is_missed() -> None:
    lines = report.table(RUNS)
    assert len(lines) == 2 + 3
    assert lines[-1].startswith("| 1000 | 66.67 (66.67) | 0.10 | 1.50 |")
    goals = "\n".join(report.goals(RUNS[-1]))
    assert "lag_p99 = 1.50 (goal 1): **not met**" in goals
    assert "operator_rss_mb = 225 (goal 300): met" in goals
    assert "operator_cores = 0.60 (goal 1): met" in goals
    assert "status_writes_per_policy_minute = 1.00 (goal 1): met" in goals


def test_sizing_projects_linearly_and_keeps_each_replica_under_budget() -> None:
    intercept, slope = report.fit([(250, 0.15), (500, 0.3), (1000, 0.6)])
    assert abs(intercept) < 1e-9
    assert abs(slope - 0.0006) < 1e-12
    lines = report.sizing(RUNS)
    row15 = next(line for line in lines if line.startswith("| 15 s"))
    cells = [c.strip() for c in row15.strip("|").split("|")]
    # 9 ms per evaluation x 667 evaluations/s = 6 cores → 12 replicas at 0.5 core each.
    assert cells[2] == "12"
    assert cells[3] == "24"
    assert float(cells[5]) <= 0.5


def test_the_section_replaces_only_its_markers(tmp_path: Path) -> None:
    doc = tmp_path / "scaling.md"
    doc.write_text(f"intro\n\n{report.BEGIN}\nold\n{report.END}\n\noutro\n")
    report.write_section(doc, report.section(RUNS, "python -m benchmarks.scale", "test box"))
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "old" not in text
    assert text.count(report.BEGIN) == 1
    assert "| 1000 |" in text


def test_goals_are_judged_at_a_thousand_and_larger_runs_say_what_they_miss() -> None:
    runs = [*RUNS[:2], run(1000, 0.3, 280, 0.2), run(2000, 0.6, 430, 2.0)]
    text = report.section(runs, "cmd", "machine")
    assert "Goals for one process at N = 1000:" in text
    assert "lag_p99 = 0.20 (goal 1): met" in text
    assert "Beyond the goals' N, at N = 2000: lag_p99 = 2.00; operator_rss_mb = 430 (" in text
    # Without a run at 1,000 the largest N is judged.
    assert "Goals for one process at N = 500:" in report.section(RUNS[:2], "cmd", "machine")


def test_the_section_names_the_code_it_measured_when_known() -> None:
    assert "Command: `cmd` at abc1234+changes. Machine: m." in report.section(
        RUNS, "cmd", "m", "abc1234+changes"
    )
    assert "Command: `cmd`. Machine: m." in report.section(RUNS, "cmd", "m")


def test_the_code_is_the_checkouts_commit_or_says_it_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = scale._code()
    if (scale.ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", code), code
    else:  # a copy of the tree without its history
        assert code == "unknown (no git checkout)"
    monkeypatch.setattr(scale, "ROOT", tmp_path)  # not a git checkout
    assert scale._code() == "unknown (no git checkout)"

"""The learner benchmark's partial runs: `--loop api` keeps the other loop's rows, and the doc
says when each group of rows was run."""

from __future__ import annotations

import json
import pathlib
import sys
import time
from typing import Any

import pytest

from benchmarks import learner_benchmark as lb


def fake_same(name: str, loop: str, seeds: int, seed: int | None = None) -> dict[str, Any]:
    learner = {"replica_hours": 9.0, "violations_mean": 0.005, "violations_max": 0.006,
               "acted": 0.5, "phases": ["active"], "price": 1.0, "period_minutes": None,
               "seeds": seeds}  # fmt: skip
    return {
        "trace": name,
        "generator_seed": seed,
        "loop": loop,
        "hpa_tuned": {"replica_hours": 10.0, "violations": 0.008, "target": 0.8, "window": 60.0},
        "learner": learner,
        "learner_vs_hpa_tuned": 0.9 if loop == "api" else 0.95,
        "oracle_vs_hpa_tuned": 0.8,
    }


def fake_cross(name: str, loop: str, seeds: int, own: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace": name,
        "loop": loop,
        "hpa_alibaba": {"replica_hours": 10.0, "violations": 0.004},
        "hpa_alibaba_vs_hpa_own": 1.1,
        "hpa_own_vs_hpa_alibaba": 0.9,
        "hpa_own_violations": 0.008,
        "learner": own["learner"],
        "learner_vs_hpa_alibaba": 0.85 if loop == "api" else 0.88,
        "oracle_vs_hpa_alibaba": 0.75,
    }


def test_an_api_loop_run_keeps_the_fast_rows_and_dates_each_group(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, doc = tmp_path / "learner.json", tmp_path / "benchmarks.md"
    doc.write_text(f"before\n{lb.START}\nold\n{lb.END}\nafter\n")
    loops = ("fast", "api")
    earlier_same = [fake_same(n, loop, 5) for loop in loops for n in ("alibaba", "step")]
    earlier_cross = [fake_cross("step", loop, 5, fake_same("step", loop, 5)) for loop in loops]
    for row in earlier_same:
        row["learner_vs_hpa_tuned"] = 0.5
    for row in earlier_cross:
        row["learner_vs_hpa_alibaba"] = 0.5
    earlier: dict[str, Any] = {
        "seeds": 5,
        "measured": "2026-12-02",
        "same": earlier_same,
        "cross": earlier_cross,
        "fresh": [fake_same("step", "fast", 1, 112)],
    }
    out.write_text(json.dumps(earlier))
    for name, value in (("OUT", out), ("DOC", doc), ("BUILD", tmp_path / "build"),
                        ("same_trace", fake_same), ("cross_trace", fake_cross),
                        ("SEEDS", {"step": 12})):  # fmt: skip
        monkeypatch.setattr(lb, name, value)
    monkeypatch.setattr(time, "strftime", lambda *_: "2026-12-03")
    monkeypatch.setattr(
        sys, "argv", ["learner_benchmark", "--loop", "api", "--no-fresh", "--only", "alibaba",
                      "--only", "step"]
    )  # fmt: skip
    lb.main()
    results = json.loads(out.read_text())
    same = {(r["loop"], r["trace"]): r for r in results["same"]}
    cross = {(r["loop"], r["trace"]): r for r in results["cross"]}
    # The fast loop's rows and the fresh seeds are the earlier run's, dated with it.
    assert same["fast", "alibaba"]["learner_vs_hpa_tuned"] == 0.5
    assert same["fast", "step"]["measured"] == "2026-12-02"
    assert cross["fast", "step"]["learner_vs_hpa_alibaba"] == 0.5
    assert results["fresh"][0]["measured"] == "2026-12-02"
    # The API loop's rows are this run's, once each.
    assert len(results["same"]) == 4 and len(results["cross"]) == 2
    assert same["api", "step"]["learner_vs_hpa_tuned"] == 0.9
    assert same["api", "alibaba"]["measured"] == "2026-12-03"
    assert cross["api", "step"]["learner_vs_hpa_alibaba"] == 0.85
    assert cross["api", "step"]["measured"] == "2026-12-03"
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "\nold\n" not in text
    dates = "fast loop 2026-12-02; API loop 2026-12-03; fresh seeds, fast loop 2026-12-02"
    assert f"Measured: {dates}." in text


def test_one_date_when_every_row_was_run_together() -> None:
    rows = [fake_same("step", "fast", 5), fake_same("step", "api", 5)]
    assert lb.measured({"measured": "2026-12-02", "same": rows}) == "Measured 2026-12-02."
    assert lb.measured({}) == "Measured ?."
    rows[1]["measured"] = "2026-12-03"
    assert lb.measured({"measured": "2026-12-03", "same": rows}) == "Measured 2026-12-03."


def test_fresh_seeds_run_in_each_loop_asked_for_with_the_runs_seeds(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, doc = tmp_path / "learner.json", tmp_path / "benchmarks.md"
    doc.write_text(f"{lb.START}\n{lb.END}\n")
    earlier = {"measured": "2026-12-02", "fresh": [fake_same("step", "fast", 1, 112)]}
    out.write_text(json.dumps(earlier))
    for name, value in (("OUT", out), ("DOC", doc), ("BUILD", tmp_path / "build"),
                        ("same_trace", fake_same), ("FRESH", {"step": (112,)})):  # fmt: skip
        monkeypatch.setattr(lb, name, value)
    monkeypatch.setattr(time, "strftime", lambda *_: "2026-12-05")
    monkeypatch.setattr(sys, "argv", ["learner_benchmark", "--loop", "api", "--fresh-only"])
    lb.main()
    fresh = {r["loop"]: r for r in json.loads(out.read_text())["fresh"]}
    assert fresh["fast"]["measured"] == "2026-12-02" and fresh["fast"]["learner"]["seeds"] == 1
    assert fresh["api"]["measured"] == "2026-12-05" and fresh["api"]["learner"]["seeds"] == 5
    text = doc.read_text()
    assert "#### Fresh generator seeds" in text and text.count("| step (112) |") == 2
    assert "fresh seeds, fast loop 2026-12-02; fresh seeds, API loop 2026-12-05" in text

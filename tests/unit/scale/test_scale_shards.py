"""The sharded benchmark's double-evaluation check, from the replicas' JSON logs."""

from __future__ import annotations

from pathlib import Path

from benchmarks import scale_decisions, scale_shards


def test_decisions_are_read_from_json_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    log.write_text(
        '{"time": "2026-12-02T01:00:00+00:00", "message": "decision hold 1→1 (baseline): ok",'
        ' "namespace": "bench-01", "policy": "p0001"}\n'
        "not json, decision something\n"
        '{"time": "2026-12-02T01:00:01+00:00", "message": "Handler succeeded", "policy": "x"}\n'
    )
    assert scale_decisions.decisions(log, "r0") == [("bench-01/p0001", 1796173200.0, "r0")]


def test_only_close_evaluations_by_different_replicas_count_as_doubles() -> None:
    events = [
        ("a", 0.0, "r0"),
        ("a", 15.0, "r0"),
        ("a", 18.0, "r1"),  # r1 took over 3 s after r0's evaluation: a double
        ("a", 33.0, "r1"),
        ("b", 0.0, "r0"),
        ("b", 14.0, "r1"),  # a handover one interval apart: fine
        ("c", 0.0, "r0"),
        ("c", 2.0, "r0"),  # the same replica woken early: not a handover
    ]
    assert scale_shards.doubles(events, 15.0) == 1


def test_decision_lag_is_the_gap_minus_the_interval_inside_the_window() -> None:
    events = [
        ("a", 100.0, "r"), ("a", 115.5, "r"), ("a", 132.5, "r"), ("a", 160.0, "r"),
        ("b", 101.0, "r"), ("b", 116.0, "r"),
    ]  # fmt: skip
    lag = scale_decisions.lag(events, 15.0, start=110.0, end=150.0)
    # a: 0.5 and 2.0 late inside the window (160 is after it); b: on time.
    assert lag["gaps"] == 3
    assert lag["max"] == 2.0 and lag["p50"] == 0.5
    assert lag["late_1s_percent"] == 33.3 and lag["late_10s_percent"] == 0.0
    assert scale_decisions.lag(events, 15.0, start=200.0, end=300.0) == {"gaps": 0}


def test_decisions_are_timed_by_the_target_read_when_the_line_has_it(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    log.write_text(
        '{"time": "2026-12-02T01:00:02+00:00", "message": "decision hold 1→1 (baseline): ok",'
        ' "namespace": "bench-01", "policy": "p0001", "observed": 1796173200.25}\n'
    )
    assert scale_decisions.decisions(log, "r0") == [("bench-01/p0001", 1796173200.25, "r0")]

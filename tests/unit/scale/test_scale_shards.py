"""The sharded benchmark's double-evaluation check, from the replicas' JSON logs."""

from __future__ import annotations

from pathlib import Path

from benchmarks import scale_shards


def test_decisions_are_read_from_json_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    log.write_text(
        '{"time": "2026-12-02T01:00:00+00:00", "message": "decision hold 1→1 (baseline): ok",'
        ' "namespace": "bench-01", "policy": "p0001"}\n'
        "not json, decision something\n"
        '{"time": "2026-12-02T01:00:01+00:00", "message": "Handler succeeded", "policy": "x"}\n'
    )
    assert scale_shards.decisions(log, "r0") == [("bench-01/p0001", 1796173200.0, "r0")]


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

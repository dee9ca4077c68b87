"""Short end-to-end runs of `nimbusguard train` and `simulate`, and their bad-input errors."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from nimbusguard import cli
from nimbusguard.simulator import synthetic, traces


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("traces") / "ramp.csv"
    synthetic.write(path, "ramp", seed=5, days=0.25, interval=15.0)  # 6 hours, 1440 rows
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_simulate_everything(
    trace: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "qtable.npz"
    common = ["--trace", str(trace), "--column", "load"]
    code, out, err = run(
        ["train", *common, "--end", "3", "--episodes", "2", "--out", str(table)], capsys
    )
    assert (code, err) == (0, "")
    assert "episode 2: price of a violation" in out
    assert "forecaster σ" in out
    assert table.stat().st_size > 0
    report_path, plot_path = tmp_path / "report.json", tmp_path / "plot.png"
    code, out, err = run(
        [
            "simulate", *common, "--start", "3", "--tune-start", "0", "--tune-end", "3",
            "--autoscaler", "all", "--qtable", str(table), "--seeds", "2",
            "--json", str(report_path), "--plot", str(plot_path),
        ],
        capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "hpa-tuned: target" in out
    report = json.loads(report_path.read_text())
    run_keys = {
        "autoscaler", "seed", "slo_violation_fraction", "replica_hours",
        "scale_events_per_hour", "max_violation_minutes",
    }  # fmt: skip
    summary_keys = {
        "autoscaler", "slo_violation_fraction_mean", "slo_violation_fraction_max",
        "replica_hours_mean", "replica_hours_std", "replica_hours_vs_oracle",
        "replica_hours_vs_hpa_tuned",
    }  # fmt: skip
    assert len(report["runs"]) == 5 * 2
    assert all(run_keys <= set(r) for r in report["runs"])
    assert [s["autoscaler"] for s in report["summary"]] == [
        "qlearning", "hpa", "hpa-tuned", "oracle", "static",
    ]  # fmt: skip
    assert all(summary_keys <= set(s) for s in report["summary"])
    by_name = {s["autoscaler"]: s for s in report["summary"]}
    assert by_name["oracle"]["replica_hours_vs_oracle"] == pytest.approx(1.0)
    assert by_name["hpa-tuned"]["replica_hours_vs_hpa_tuned"] == pytest.approx(1.0)
    assert by_name["oracle"]["slo_violation_fraction_max"] == 0.0
    settings = report["settings"]
    assert settings["hpa_tuned"]["trace"]["end_hours"] == 3.0
    assert {"step_seconds", "startup_seconds", "slo_utilization", "hpa_target"} <= set(settings)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_numbers(trace: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--trace", str(trace), "--column", "load", "--autoscaler", "qlearning",
            "--seeds", "1", "--end", "2"]  # fmt: skip
    first = run(argv, capsys)[1]
    assert run(argv, capsys)[1] == first


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--column", "nope"], "no column 'nope'"),
        (["--start", "10", "--end", "20"], "outside the trace"),
        (["--demand-min", "5", "--demand-max", "5"], "--demand-min (5) must be >= 0 and below"),
        (["--autoscaler", "hpa-tuned"], "hpa-tuned needs a training trace"),
        (["--min-replicas", "9", "--max-replicas", "3"], "min-replicas"),
        (["--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    trace: pathlib.Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--trace", str(trace), "--column", "load", "--autoscaler", "hpa", *extra]
    # argparse keeps the last --column/--autoscaler given.
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "missing.csv": None,
        "text.csv": "load\n1\n2\nlots\n",
        "short.csv": "load\n1\n",
        "empty.csv": "",
    }
    expected = {
        "missing.csv": "no such file",
        "text.csv": "row 4, column 'load': 'lots' is not a number",
        "short.csv": "at least two numeric rows",
        "empty.csv": "the file is empty",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        code, _, err = run(
            ["simulate", "--trace", str(path), "--column", "load", "--autoscaler", "hpa"], capsys
        )
        assert code == 2, name
        assert expected[name] in err, err
        assert "Traceback" not in err
    bad_table = tmp_path / "bad.npz"
    bad_table.write_bytes(b"garbage")
    good = tmp_path / "good.csv"
    good.write_text("load\n" + "\n".join(str(x) for x in range(50)) + "\n")
    code, _, err = run(
        ["simulate", "--trace", str(good), "--column", "load", "--autoscaler", "qlearning",
         "--qtable", str(bad_table)],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "not a Q-table file" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("load\n1\n2\n-3\n4\n", "row 4, column 'load' is negative; load cannot be"),
        ("load\n" + "5\n" * 50, "column 'load' is constant before or in the window"),
        ("load\n1\ninf\n3\n", "row 3, column 'load' is infinite"),
    ],
)
def test_negative_constant_and_infinite_loads_are_refused(
    tmp_path: pathlib.Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    for command in ("simulate", "train"):
        extra = ["--autoscaler", "qlearning"] if command == "simulate" else [
            "--out", str(tmp_path / "q.npz")
        ]  # fmt: skip
        code, _, err = run([command, "--trace", str(path), "--column", "load", *extra], capsys)
        assert code == 2, command
        assert message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "q.npz").exists()


def test_a_trace_shorter_than_the_forecasters_window_falls_back_to_the_hpa(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10 minutes: less than the forecaster's 30-minute level. The learner never leaves
    # Learning, so the policy's HPA acts throughout (the documented fallback): the same numbers.
    path = tmp_path / "short.csv"
    rng = np.random.default_rng(3)
    path.write_text("load\n" + "\n".join(f"{5 + 3 * rng.random():.3f}" for _ in range(40)))
    runs = {}
    for name in ("qlearning", "hpa"):
        report = tmp_path / f"{name}.json"
        code, _, err = run(
            ["simulate", "--trace", str(path), "--column", "load", "--autoscaler", name,
             "--seeds", "1", "--json", str(report)],
            capsys,
        )  # fmt: skip
        assert (code, err) == (0, "")
        (runs[name],) = [
            r for r in json.loads(report.read_text())["runs"] if r["autoscaler"] == name
        ]
    assert runs["qlearning"]["replica_hours"] == runs["hpa"]["replica_hours"]
    assert runs["qlearning"]["slo_violation_fraction"] == runs["hpa"]["slo_violation_fraction"]
    assert runs["qlearning"]["scale_events_per_hour"] > 0  # the HPA did act


def test_nan_cells_are_skipped_and_counted(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("t,load\n0,1\n15,\n30,nan\n45,4\n")
    trace = traces.load(path, "load", 15.0, 15.0, 2.0, 20.0)
    assert trace.skipped_cells == 2
    # The gap is bridged linearly: 1, 2, 3 (the window [0, 45 s) from hour 0 is scaled by its
    # own min and max) → 2, 11, 20 cores.
    np.testing.assert_allclose(trace.demand, [2.0, 11.0, 20.0])


def test_synthetic_traces_are_reproducible() -> None:
    for shape, make in synthetic.GENERATORS.items():
        a = make(np.random.default_rng(1), 0.1, 15.0)
        b = make(np.random.default_rng(1), 0.1, 15.0)
        np.testing.assert_array_equal(a, b)
        assert len(a) == 576, shape
        assert (a > 0).all()

"""The simulator CLI's plumbing: windows checked against the trace's length before any work,
outputs checked before the run, progress bars with totals and ETA that vanish when done, and
`train` warning when no price met the SLO budget."""

from __future__ import annotations

import io
import pathlib
import time

import pytest

from nimbusguard import cli
from nimbusguard.simulator import cli_args, synthetic


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("traces") / "step.csv"
    synthetic.write(path, "step", seed=12, days=2.0, interval=15.0)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_end_past_the_trace_says_how_long_the_trace_is(
    two_days: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, _, err = run(
        ["simulate", "--trace", str(two_days), "--column", "load", "--autoscaler", "hpa",
         "--start", "48", "--end", "96"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "--start 48 h lies outside the trace" in err
    assert "47.996 h (2.00 days of 15 s rows)" in err
    code, _, err = run(
        ["simulate", "--trace", str(two_days), "--column", "load", "--autoscaler", "hpa",
         "--end", "96"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "--end 96 h lies outside the trace" in err
    assert "give at most 47.996" in err
    assert time.monotonic() - started < 10  # refused before any simulation


def test_an_end_within_one_row_of_the_trace_end_is_its_end(
    two_days: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 days of 15 s rows end at 47.996 h; `--end 48` (the docstring's days 1-2) must work.
    code, out, err = run(
        ["simulate", "--trace", str(two_days), "--column", "load", "--autoscaler", "static",
         "--seeds", "1", "--start", "46", "--end", "48"],
        capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "| static |" in out


def test_an_unwritable_plot_fails_before_the_run(
    two_days: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, out, err = run(
        ["simulate", "--trace", str(two_days), "--column", "load", "--autoscaler", "all",
         "--tune-end", "24", "--plot", str(tmp_path / "missing" / "plot.png")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "directory" in err
    assert "does not exist" in err
    assert out == ""
    assert time.monotonic() - started < 10


def test_train_refuses_a_window_too_short_for_the_forecaster(
    two_days: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["train", "--trace", str(two_days), "--column", "load", "--end", "0.5", "--episodes",
         "1", "--out", str(tmp_path / "q.npz")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert not (tmp_path / "q.npz").exists()
    assert "the forecaster needs at least 1 h" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_total_and_time_left_and_clears_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = _Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    with cli_args.progress(True, "train (7 passes)", 7000) as bar:
        bar.describe("train episode 1")
        assert bar.callback is not None
        for _ in range(7):
            bar.update(1000)
            time.sleep(0.01)
    text = screen.getvalue()
    assert "/7.00k steps" in text
    assert "<" in text  # elapsed<remaining
    # leave=False: the last thing written blanks the line and returns to its start.
    assert text.endswith("\r") or text.rstrip(" ").endswith("\r")


def test_no_bar_off_a_terminal() -> None:
    with cli_args.progress(True, "simulate", 10) as bar:  # pytest's stderr is not a TTY
        assert bar.callback is None
        bar.update(5)

"""Flags shared by `nimbusguard simulate` and `nimbusguard train`, and their conversion.

Only argparse and the standard library here: `register` runs for every `nimbusguard` command.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nimbusguard.simulator import learning, model, traces


def add_trace_args(parser: argparse.ArgumentParser) -> None:
    """--trace, --column, --trace-interval-seconds, --start, --end."""
    parser.add_argument("--trace", type=pathlib.Path, required=True, help="CSV file of the load")
    parser.add_argument("--column", required=True, help="column of --trace that holds the load")
    parser.add_argument(
        "--trace-interval-seconds",
        type=float,
        default=15.0,
        help="seconds between two rows of the trace (default 15; the Alibaba file is 10)",
    )
    parser.add_argument("--start", type=float, help="first hour of the trace to use (default 0)")
    parser.add_argument(
        "--end",
        type=float,
        help="hour of the trace to stop at (default: its end; checked "
        "against the trace's length before any work)",
    )


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The service model's numbers (see nimbusguard.simulator.model)."""
    group = parser.add_argument_group("service model")
    group.add_argument("--step-seconds", type=float, default=15.0, help="decision step (15)")
    group.add_argument("--demand-min", type=float, default=2.0, help="cores at the trace's min (2)")
    group.add_argument("--demand-max", type=float, default=20.0, help="cores at its max (20)")
    group.add_argument(
        "--startup-seconds", type=float, default=60.0, help="replica startup delay (60)"
    )
    group.add_argument("--min-replicas", type=int, default=1, help="fewest replicas (1)")
    group.add_argument("--max-replicas", type=int, default=40, help="most replicas (40)")
    group.add_argument(
        "--slo-utilization", type=float, default=0.9, help="a step violates above this (0.9)"
    )
    group.add_argument(
        "--slo-budget", type=float, default=0.01, help="allowed fraction of violating steps (0.01)"
    )
    group.add_argument(
        "--hpa-target", type=float, default=0.7, help="the HPA's target utilization (0.7)"
    )
    group.add_argument(
        "--hpa-scale-down-window",
        type=float,
        default=300.0,
        help="the policy's HPA scale-down stabilization window in seconds, the learner's "
        "baseline (300; simulate uses hpa-tuned's settings instead when it tunes)",
    )
    loop = parser.add_argument_group("the operator's loop (spec.scaling)")
    loop.add_argument(
        "--evaluation-interval-seconds",
        type=float,
        default=15.0,
        help="seconds between evaluations (15: the fast loop; the API's default is 30)",
    )
    loop.add_argument(
        "--scale-up-cooldown-seconds",
        type=float,
        default=0.0,
        help="no scale-up within this long after a change (0; the API's default is 60)",
    )
    loop.add_argument(
        "--scale-down-cooldown-seconds",
        type=float,
        default=0.0,
        help="no scale-down within this long after a change (0; the API's default is 60)",
    )


def add_learner_args(parser: argparse.ArgumentParser) -> None:
    """The Q-learner's parameters (the spec's aiConfig.qLearning)."""
    group = parser.add_argument_group("Q-learner")
    group.add_argument("--learning-rate", type=float, default=0.02, help="step size floor (0.02)")
    group.add_argument("--discount-factor", type=float, default=0.9, help="gamma (0.9)")
    group.add_argument("--epsilon-start", type=float, default=1.0, help="first epsilon (1.0)")
    group.add_argument("--epsilon-end", type=float, default=0.01, help="last epsilon (0.01)")
    group.add_argument(
        "--epsilon-decay-decisions", type=int, default=1000, help="decay horizon (1000)"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (shown on a terminal only, on stderr, and removed when done)",
    )


def settings_from(args: argparse.Namespace) -> model.ModelSettings:
    """ModelSettings from the flags; bad values raise traces.InputError."""
    from nimbusguard.simulator import model, traces

    try:
        return model.ModelSettings(
            step_seconds=args.step_seconds,
            startup_seconds=args.startup_seconds,
            min_replicas=args.min_replicas,
            max_replicas=args.max_replicas,
            slo_utilization=args.slo_utilization,
            slo_budget=args.slo_budget,
            hpa_target=args.hpa_target,
            evaluation_interval_seconds=args.evaluation_interval_seconds,
            scale_up_cooldown_seconds=args.scale_up_cooldown_seconds,
            scale_down_cooldown_seconds=args.scale_down_cooldown_seconds,
        )
    except ValueError as exc:
        raise traces.InputError(str(exc)) from None


def load_trace(args: argparse.Namespace, settings: model.ModelSettings) -> traces.Trace:
    """The --trace window as demand per step; problems raise traces.InputError."""
    from nimbusguard.simulator import traces

    check_window(args)
    return traces.load(
        args.trace,
        args.column,
        args.trace_interval_seconds,
        settings.step_seconds,
        args.demand_min,
        args.demand_max,
        args.start,
        args.end,
    )


def flags_from(args: argparse.Namespace) -> learning.LearnerFlags:
    """LearnerFlags from the flags; bad values raise traces.InputError."""
    from nimbusguard.simulator import learning, model, traces

    # The flags are named after the fields (--learning-rate → learning_rate).
    names = [field.name for field in dataclasses.fields(learning.LearnerFlags)]
    flags = learning.LearnerFlags(**{name: getattr(args, name) for name in names})
    try:
        learning.learner_config(model.ModelSettings(), flags)
    except ValueError as exc:
        raise traces.InputError(f"Q-learner flags: {exc}") from None
    return flags


class Bar:
    """One long step's progress: `update(steps)`, and `describe(text)` for what runs now."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar

    def update(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(text, refresh=False)

    @property
    def callback(self) -> Callable[[int], None] | None:
        """The step callback the simulator takes (None: no bar, no calls)."""
        return None if self._bar is None else self.update


@contextmanager
def progress(enabled: bool, desc: str, total: int) -> Iterator[Bar]:
    """A progress bar on stderr for one long step: total, rate and time left, removed when
    the step ends (so a run leaves only its results on screen). Only on a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield Bar()
        return
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit="step",
        unit_scale=True,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps "
        "[{elapsed}<{remaining}, {rate_fmt}]",
    )
    try:
        yield Bar(bar)
    finally:
        bar.close()


def trace_hours(path: pathlib.Path, interval_seconds: float) -> float | None:
    """How many hours the trace file covers (its rows × the interval), read cheaply; None
    when the file cannot be read (the loader then says why)."""
    try:
        with path.open("rb") as f:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None
    return max(rows - 2, 0) * interval_seconds / 3600.0  # a header; n rows span n - 1 gaps


def check_window(args: argparse.Namespace, prefix: str = "") -> None:
    """--start/--end (or --tune-start/--tune-end) against the trace's length, before any work.

    An --end within one row of the trace's end means its end (`--end 96` on 4 days of 15 s
    rows, which end at 95.996 h); anything later fails with the trace's length in the message.
    """
    from nimbusguard.simulator import traces

    path = getattr(args, f"{prefix}trace", None) or args.trace
    interval = getattr(args, f"{prefix}trace_interval_seconds", None) or args.trace_interval_seconds
    start = getattr(args, f"{prefix}start")
    end = getattr(args, f"{prefix}end")
    flag = f"--{prefix.replace('_', '-')}"
    hours = trace_hours(path, interval)
    if hours is None or interval <= 0:
        return
    length = f"{path} holds {hours:.3f} h ({hours / 24:.2f} days of {interval:g} s rows)"
    if start is not None and not 0 <= start < hours:
        raise traces.InputError(
            f"{flag}start {start:g} h lies outside the trace: {length}; give 0 to {hours:.3f}"
        )
    if end is not None:
        if end > hours + interval / 3600.0:
            raise traces.InputError(
                f"{flag}end {end:g} h lies outside the trace: {length}; give at most "
                f"{hours:.3f} or leave {flag}end out"
            )
        if end > hours:
            setattr(args, f"{prefix}end", None)  # within one row of the end: the end
        elif start is not None and end <= start:
            raise traces.InputError(f"{flag}end {end:g} h must be after {flag}start {start:g} h")


def check_writable(*paths: pathlib.Path | None) -> None:
    """Fail before the work, not after it, when an output's directory cannot take it."""
    from nimbusguard.simulator import traces

    for path in paths:
        if path is None:
            continue
        parent = path.parent
        if not parent.is_dir():
            raise traces.InputError(f"{path}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise traces.InputError(f"{path}: directory {parent} is not writable")


def run_guarded(body: Callable[[], int]) -> int:
    """Run a command body; user errors become one line on stderr and exit code 2."""
    from nimbusguard.scaling import qtable
    from nimbusguard.simulator import traces

    try:
        return body()
    except (traces.InputError, qtable.QTableError) as exc:
        print(f"nimbusguard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nimbusguard: interrupted", file=sys.stderr)
        return 130


def write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so a failure leaves the old file."""
    from nimbusguard.simulator import traces

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise traces.InputError(f"{path}: cannot write it: {exc.strerror or exc}") from None

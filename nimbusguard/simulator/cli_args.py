"""Flags shared by `nimbusguard simulate` and `nimbusguard train`, and their conversion.

Only argparse and the standard library here: `register` runs for every `nimbusguard` command.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument("--end", type=float, help="hour of the trace to stop at (default: its end)")


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
        "--no-progress", action="store_true", help="no progress bars (they go to stderr)"
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
        )
    except ValueError as exc:
        raise traces.InputError(str(exc)) from None


def load_trace(args: argparse.Namespace, settings: model.ModelSettings) -> traces.Trace:
    """The --trace window as demand per step; problems raise traces.InputError."""
    from nimbusguard.simulator import traces

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


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None] | None]]:
    """A factory of tqdm step callbacks (or None when disabled or stderr is not a terminal)."""
    bars: list[Any] = []
    show = enabled and sys.stderr.isatty()

    def factory(name: str, seed: int) -> Callable[[int], None] | None:
        if not show:
            return None
        from tqdm import tqdm

        bar = tqdm(desc=f"{name} seed {seed}", unit="step", leave=False, file=sys.stderr)
        bars.append(bar)
        return bar.update  # type: ignore[no-any-return]

    try:
        yield factory
    finally:
        for bar in bars:
            bar.close()


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

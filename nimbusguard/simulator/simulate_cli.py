"""`nimbusguard simulate`: compare autoscalers on a trace (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

from nimbusguard.simulator import cli_args

CHOICES = ("qlearning", "hpa", "hpa-tuned", "oracle", "static", "all")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="run autoscalers on a load trace and compare cost and SLO violations",
        description=(
            "Drive the HPA, a calibrated HPA, the oracle, a static count and the Q-learner "
            "(the operator's own decision code) through a trace of CPU demand."
        ),
    )
    cli_args.add_trace_args(parser)
    parser.add_argument(
        "--autoscaler",
        action="append",
        choices=CHOICES,
        required=True,
        help="autoscaler to run; repeat it, or say all",
    )
    parser.add_argument("--qtable", type=pathlib.Path, help="Q-table from `nimbusguard train`")
    tune = parser.add_argument_group("hpa-tuned's training trace")
    tune.add_argument("--tune-trace", type=pathlib.Path, help="CSV to tune on (default --trace)")
    tune.add_argument("--tune-column", help="its column (default --column)")
    tune.add_argument(
        "--tune-trace-interval-seconds", type=float, help="its interval (default as --trace's)"
    )
    tune.add_argument("--tune-start", type=float, help="first hour to tune on")
    tune.add_argument("--tune-end", type=float, help="hour to stop tuning at")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per autoscaler (5)")
    parser.add_argument("--json", type=pathlib.Path, help="write the report here")
    parser.add_argument("--plot", type=pathlib.Path, help="write a PNG here")
    cli_args.add_model_args(parser)
    cli_args.add_learner_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return cli_args.run_guarded(lambda: _simulate(args))


def _simulate(args: argparse.Namespace) -> int:
    from nimbusguard.scaling import learner
    from nimbusguard.simulator import learning, simulation, traces, tuning

    settings = cli_args.settings_from(args)
    flags = cli_args.flags_from(args)
    if args.seeds < 1:
        raise traces.InputError("--seeds must be at least 1")
    names = simulation.AUTOSCALERS if "all" in args.autoscaler else tuple(args.autoscaler)
    cli_args.check_writable(args.json, args.plot)
    if "hpa-tuned" in names:
        cli_args.check_window(args, "tune_")
    trace = cli_args.load_trace(args, settings)
    if trace.skipped_cells:
        print(f"skipped {trace.skipped_cells} empty or NaN cells of {args.column!r}")
    tuned = tune_trace = None
    if "hpa-tuned" in names:
        tune_trace = _tuning_trace(args, settings)
        print(
            f"tuning the HPA on {tune_trace.path} hours {tune_trace.start_hours:g}-"
            f"{tune_trace.end_hours:g} ({len(tuning.TARGETS) * len(tuning.WINDOWS)} settings)"
        )
        runs = len(tuning.TARGETS) * len(tuning.WINDOWS)
        total = runs * len(tune_trace.demand)
        with cli_args.progress(not args.no_progress, f"tuning ({runs} settings)", total) as bar:
            tuned = tuning.tune(tune_trace.demand, settings, progress=bar.callback)
        print(
            f"hpa-tuned: target {tuned.target:.3f}, scale-down stabilization "
            f"{tuned.scale_down_window:g} s (training: {tuned.train_replica_hours:.1f} "
            f"replica-hours, violations {tuned.train_slo_violation_fraction:.2%}"
            f"{'' if tuned.meets_budget else ', NO setting met the budget'})"
        )
    blob = None
    if "qlearning" in names and args.qtable is not None:
        try:
            blob = args.qtable.read_bytes()
        except OSError as exc:
            raise traces.InputError(f"{args.qtable}: {exc.strerror or exc}") from None
        # Fail now, with one line, rather than inside the first run.
    request = simulation.Request(
        trace=trace,
        settings=settings,
        autoscalers=tuple(names),
        seeds=args.seeds,
        flags=flags,
        qtable=blob,
        qtable_path=None if args.qtable is None else str(args.qtable),
        tuned=tuned,
        tune_trace=tune_trace,
        scale_down_window=args.hpa_scale_down_window,
    )
    if blob is not None:
        # Fail now, with one line, rather than inside the first run.
        config = learning.learner_config(settings, flags, request.policy())
        learner.QLearner.from_bytes(blob, config, _rng(), warm_start=True)
    total = _runs(names, args.seeds) * len(trace.demand)
    with cli_args.progress(not args.no_progress, "simulate", total) as bar:

        def step(name: str, seed: int) -> Any:
            bar.describe(f"simulate {name} seed {seed}")
            return bar.callback

        result = simulation.simulate(request, step)
    print(table(result.report["summary"], settings.slo_budget))
    if args.json is not None:
        text = json.dumps(result.report, indent=2) + "\n"
        cli_args.write_atomically(args.json, text.encode())
    if args.plot is not None:
        from nimbusguard.simulator import plot

        title = f"{pathlib.Path(trace.path).name}:{trace.column}"
        plot.save(args.plot, title, trace.demand, settings, result.trajectories)
    return 0


def _runs(names: tuple[str, ...], seeds: int) -> int:
    """How many passes over the trace simulate makes: the oracle once, each deterministic
    autoscaler once (cached), the others once per seed."""
    from nimbusguard.simulator import simulation

    runs = 1
    for name in dict.fromkeys(names):
        if name != "oracle":
            runs += 1 if name in simulation.DETERMINISTIC else seeds
    return runs


def _rng() -> Any:
    import numpy as np

    return np.random.default_rng(0)


def _tuning_trace(args: argparse.Namespace, settings: Any) -> Any:
    from nimbusguard.simulator import traces

    given = args.tune_trace is not None or args.tune_start is not None or args.tune_end is not None
    if not given:
        raise traces.InputError(
            "hpa-tuned needs a training trace (--tune-trace, or --tune-start/--tune-end on "
            "--trace); it will not tune on the data it is tested on"
        )
    return traces.load(
        args.tune_trace or args.trace,
        args.tune_column or args.column,
        args.tune_trace_interval_seconds or args.trace_interval_seconds,
        settings.step_seconds,
        args.demand_min,
        args.demand_max,
        args.tune_start,
        args.tune_end,
    )


def table(summary: list[dict[str, Any]], budget: float) -> str:
    """The summary as a Markdown table (printed, and pasted into docs/benchmarks.md)."""
    lines = [
        "| autoscaler | violations mean (max) | replica-hours mean ± std | vs oracle "
        "| vs hpa-tuned | scale events/h | longest violation | budget met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        tuned = row["replica_hours_vs_hpa_tuned"]
        oracle = row["replica_hours_vs_oracle"]
        lines.append(
            f"| {row['autoscaler']} | {row['slo_violation_fraction_mean']:.2%} "
            f"({row['slo_violation_fraction_max']:.2%}) | {row['replica_hours_mean']:.1f} ± "
            f"{row['replica_hours_std']:.1f} | {'-' if oracle is None else f'{oracle:.3f}'} | "
            f"{'-' if tuned is None else f'{tuned:.3f}'} | "
            f"{row['scale_events_per_hour_mean']:.1f} | "
            f"{row['max_violation_minutes_max']:.2f} min | "
            f"{'yes' if row['slo_violation_fraction_max'] <= budget else 'NO'} |"
        )
    return "\n".join(lines)

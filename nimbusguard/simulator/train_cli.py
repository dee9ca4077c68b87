"""`nimbusguard train`: pre-train a Q-table in the simulator for a warm start."""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from nimbusguard.simulator import cli_args


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="pre-train a Q-table on a load trace (for simulate --qtable or a warm start)",
        description=(
            "Run the operator's learner over a training trace for several episodes, learning "
            "safely behind the HPA formula exactly as in a cluster, and write the Q-table."
        ),
    )
    cli_args.add_trace_args(parser)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="Q-table file to write")
    parser.add_argument("--episodes", type=int, default=6, help="passes over the trace (6)")
    parser.add_argument("--seed", type=int, default=0, help="exploration seed (0)")
    cli_args.add_model_args(parser)
    cli_args.add_learner_args(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return cli_args.run_guarded(lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    from nimbusguard.simulator import learning, traces

    settings = cli_args.settings_from(args)
    flags = cli_args.flags_from(args)
    if args.episodes < 1:
        raise traces.InputError("--episodes must be at least 1")
    cli_args.check_writable(args.out)
    trace = cli_args.load_trace(args, settings)
    config = learning.learner_config(settings, flags)
    calibrations: list[learning.Episode] = []

    def report(episode: learning.Episode) -> None:
        if episode.calibration:
            calibrations.append(episode)
        kind = "calibration pass" if episode.calibration else "episode"
        print(
            f"{kind} {episode.number}: price of a violation {episode.slo_price:.2f}, "
            f"violations {episode.slo_violation_fraction:.2%}, "
            f"{episode.replica_hours:.1f} replica-hours, learner acted in "
            f"{episode.learner_share:.0%} of steps, phase {episode.phase}"
        )

    passes = args.episodes + len(learning.PRICE_FACTORS)
    total = passes * len(trace.demand)
    with cli_args.progress(not args.no_progress, f"train ({passes} passes)", total) as bar:
        brain = learning.train(
            trace.demand,
            settings,
            config,
            args.episodes,
            args.seed,
            on_episode=report,
            progress=bar.callback,
        )
    cli_args.write_atomically(args.out, brain.to_bytes())
    met = [e for e in calibrations if e.slo_violation_fraction <= settings.slo_budget]
    if calibrations and not met:
        best = min(calibrations, key=lambda e: e.slo_violation_fraction)
        print(
            f"warning: no price of a violation met the SLO budget ({settings.slo_budget:.2%} of "
            f"steps) on the training trace; the fewest violations were "
            f"{best.slo_violation_fraction:.2%} at price {best.slo_price:.2f}. The table is "
            "written, but expect more violations than the budget: train on a longer window, "
            "or raise --max-replicas or --slo-budget.",
            file=sys.stderr,
        )
    print(
        f"wrote {args.out}: price of a violation {brain.slo_price:.2f}, "
        f"{brain.states_visited} states visited, {brain.updates} updates; "
        # NB: not <policy>-qtable: that is the policy's own stored table, which the operator
        # restores as the policy's (promotion included) instead of warm-starting from it.
        f"warm-start a policy with: kubectl create configmap <policy>-pretrained "
        f"--from-file=qtable.npz={args.out}"
    )
    return 0

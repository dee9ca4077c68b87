"""`nimbusguard train`: pre-train a Q-table in the simulator for a warm start."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from nimbusguard.simulator import cli_args


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="pre-train a Q-table on a load trace (for simulate --qtable or a warm start)",
        description=(
            "Run the operator's learner over a training trace for several episodes, learning "
            "safely behind the HPA formula exactly as in a cluster, and write one versioned "
            "file with the forecaster, its error model, the price of a violation and the Q-table."
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
    policy = learning.PolicyHPA(settings.hpa_target, args.hpa_scale_down_window)
    config = learning.learner_config(settings, flags, policy)

    def report(episode: learning.Episode) -> None:
        print(
            f"episode {episode.number}: price of a violation {episode.slo_price:.3g}, "
            f"violations {episode.slo_violation_fraction:.2%}, "
            f"{episode.replica_hours:.1f} replica-hours, learner acted in "
            f"{episode.learner_share:.0%} of steps, phase {episode.phase}"
        )

    total = args.episodes * len(trace.demand)
    with cli_args.progress(not args.no_progress, f"train ({args.episodes} passes)", total) as bar:
        try:
            brain = learning.train(
                trace.demand,
                settings,
                config,
                args.episodes,
                args.seed,
                on_episode=report,
                progress=bar.callback,
                policy=policy,
                start_seconds=trace.start_hours * 3600.0,
            )
        except ValueError as exc:
            raise traces.InputError(str(exc)) from None
    cli_args.write_atomically(args.out, brain.to_bytes())
    print(
        f"wrote {args.out}: price of a violation {brain.slo_price:.3g}, "
        f"forecaster σ {brain.forecaster.vol * 1.2533:.1%} of the load, period "
        f"{brain.forecaster.period or 'none'} min, "
        f"{brain.states_visited} states visited, {brain.updates} updates; "
        # NB: not <policy>-qtable: that is the policy's own stored table, which the operator
        # restores as the policy's (promotion included) instead of warm-starting from it.
        f"warm-start a policy with: kubectl create configmap <policy>-pretrained "
        f"--from-file=qtable.npz={args.out}"
    )
    return 0

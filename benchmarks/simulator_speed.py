"""Wall time of one simulated run over the whole Alibaba trace (7.8 days, ≈44,800 steps of 15 s).

    python -m benchmarks.simulator_speed [--repeats 3]

Times `model.run` for each autoscaler, one seed, in this process (median of the repeats), with
the Q-learner learning from nothing (the slowest case: it judges every decision).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.simulator_benchmark import alibaba_path
from nimbusguard.scaling import learner
from nimbusguard.simulator import baselines, learning, model, traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = model.ModelSettings()
    demand = traces.load(alibaba_path(), "cpu_util_percent", 10.0, 15.0, 2.0, 20.0).demand
    config = learning.learner_config(settings, learning.LearnerFlags())

    def make(name: str) -> model.Autoscaler:
        if name == "hpa":
            return baselines.HPA("hpa", baselines.hpa_config(settings), 0.7, settings)
        if name == "oracle":
            return baselines.Schedule("oracle", baselines.oracle_schedule(demand, settings))
        return learning.QLearning(
            "qlearning", learner.QLearner(config, np.random.default_rng(0)), settings
        )

    print(f"{len(demand)} steps\n")
    print(f"| autoscaler | seconds per run (median of {args.repeats}) | µs per step |")
    print("|---|---|---|")
    for name in ("oracle", "hpa", "qlearning"):
        times = []
        for _ in range(args.repeats):
            autoscaler = make(name)
            started = time.perf_counter()
            model.run(demand, autoscaler, settings)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} | {median / len(demand) * 1e6:.0f} |")


if __name__ == "__main__":
    main()

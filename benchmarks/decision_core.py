"""Cost per decision of the pure decision core, without I/O and without LangGraph.

    python -m benchmarks.decision_core [--decisions 20000] [--cpu 0]

One decision is what a workflow evaluation runs of `nimbusguard.scaling`: build the
`Observation`, `HPABaseline.recommend`, `QLearner.decide`, `record_scale` when the replicas
change, `QLearner.learn`, and reading `Choice.reasoning` (the sentence for the status). Loads
follow a noisy random walk; replicas follow the decisions, with no startup delay.

Three variants are timed in the same process, interleaved in rounds so machine noise hits them
alike: the HPA formula alone (the baseline), the learner while Learning (the HPA acts, the
learner judges every action counterfactually) and the learner when Active (it acts,
ε-greedy). Each decision is timed on its own with perf_counter_ns; the process is pinned to one
CPU when the platform allows. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from nimbusguard.scaling import hpa, learner
from nimbusguard.scaling.observation import Observation

STEP = 15.0


class Loop:
    """One variant's state across rounds."""

    def __init__(self, kind: str, seed: int) -> None:
        self.kind = kind
        self.baseline = hpa.HPABaseline(hpa.HPAConfig(min_replicas=1, max_replicas=40))
        config = learner.LearnerConfig(min_replicas=1, max_replicas=40, learning_rate=0.02)
        self.brain = learner.QLearner(config, np.random.default_rng(seed))
        if kind == "active":
            self.brain.promotion.phase = "Active"
        self.replicas = 8
        self.step = 0
        self.samples: list[int] = []

    def run(self, loads: np.ndarray[tuple[int], np.dtype[np.float64]]) -> None:
        for load in loads.tolist():
            started = time.perf_counter_ns()
            obs = Observation(
                time=self.step * STEP,
                replicas=self.replicas,
                ready_replicas=self.replicas,
                utilization=load / self.replicas,
            )
            rec = self.baseline.recommend(obs)
            replicas = rec.replicas
            if self.kind != "hpa":
                choice = self.brain.decide(obs, rec)
                replicas = choice.replicas
                _ = choice.reasoning
            if replicas != obs.replicas:
                self.baseline.record_scale(obs.time, obs.replicas, replicas)
            if self.kind != "hpa":
                self.brain.learn(obs)
            self.samples.append(time.perf_counter_ns() - started)
            self.replicas = replicas
            self.step += 1


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the decision core per decision.")
    parser.add_argument("--decisions", type=int, default=20_000, help="per variant")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (Linux)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rng = np.random.default_rng(7)
    walk = np.clip(10 + np.cumsum(rng.normal(0, 0.3, args.decisions)), 2, 30)
    loads = walk * (1 + rng.normal(0, 0.05, args.decisions))
    loops = [Loop(kind, seed=1) for kind in ("hpa", "learning", "active")]
    for loop in loops:  # warm-up: imports, caches, first allocations
        loop.run(loads[:500])
        loop.samples.clear()
    per_round = args.decisions // args.rounds
    for r in range(args.rounds):
        chunk = loads[r * per_round : (r + 1) * per_round]
        for loop in loops:
            loop.run(chunk)
    hpa_median = statistics.median(loops[0].samples)
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {args.decisions} decisions per variant, 1 CPU")  # fmt: skip
    print()
    print("| variant | p50 µs | p99 µs | max µs | decisions/s (1 core) | p50 vs HPA alone |")
    print("|---|---|---|---|---|---|")
    names = {
        "hpa": "HPA formula alone (baseline)",
        "learning": "learner, Learning (HPA acts, all actions learn)",
        "active": "learner, Active (learner acts, ε-greedy)",
    }
    for loop in loops:
        samples = np.asarray(loop.samples, dtype=np.float64) / 1000.0
        p50, p99 = np.percentile(samples, [50, 99])
        rate = 1e6 / samples.mean()
        print(
            f"| {names[loop.kind]} | {p50:.1f} | {p99:.1f} | {samples.max():.0f} | {rate:,.0f} "
            f"| {statistics.median(loop.samples) / hpa_median:.1f}× |"
        )


if __name__ == "__main__":
    main()

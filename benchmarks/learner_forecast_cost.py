"""What the forecaster adds to one decision: `Forecaster.observe` timed on its own.

    python -m benchmarks.learner_forecast_cost [--steps 40000]

Feeds the Alibaba trace (15 s steps, its period detected from the history as in production)
through one forecaster and times every `observe` call (fold in the load, learn from the
observation whose horizon it completes, forecast) with both wall-clock (perf_counter_ns) and the
thread's CPU time (thread_time_ns, which a busy machine's preemption does not inflate). The
hourly period re-detection (an FFT over up to two days of minute means) is part of the calls it
lands in. Goal (issue 14): < 0.2 ms at p99.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.simulator_benchmark import alibaba_path
from nimbusguard.scaling import forecast
from nimbusguard.simulator import traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40000)
    args = parser.parse_args()
    demand = traces.load(alibaba_path(), "cpu_util_percent", 10.0, 15.0, 2.0, 20.0).demand
    demand = demand[: args.steps]
    brain = forecast.Forecaster(forecast.ForecastConfig())
    wall, cpu = [], []
    for i, load in enumerate(demand.tolist()):
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        brain.observe(i * 15.0, load)
        cpu.append(time.thread_time_ns() - c0)
        wall.append(time.perf_counter_ns() - w0)
    print(f"{len(demand)} observations, period detected: {brain.period} min\n")
    print("| clock | p50 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|")
    for name, samples in (("wall", wall), ("thread CPU", cpu)):
        us = np.asarray(samples) / 1000.0
        p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
        print(f"| {name} | {p50:.0f} µs | {p99:.0f} µs | {p999:.0f} µs | {us.max():.0f} µs |")


if __name__ == "__main__":
    main()

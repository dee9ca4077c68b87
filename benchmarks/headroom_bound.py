"""How much a calibrated HPA leaves on the table: bounds that no causal autoscaler can beat much.

    python -m benchmarks.headroom_bound      # after benchmarks/simulator_benchmark.py

For each test window it prints, in replica-hours and as a ratio to hpa-tuned (from
docs/benchmarks/<trace>.json):

- the oracle (knows the future exactly; never violates);
- a *clairvoyant-mean* autoscaler: it knows the load's centred 10-minute mean (the future
  included) and its replicas are ready exactly when needed, but it does not know the noise around
  that mean; it keeps ceil((mean + c) ÷ 0.9) replicas with the smallest constant margin c (in
  steps of 0.05 cores) that meets the 1 % budget on the test window itself.

A causal learner knows less than the clairvoyant-mean autoscaler (it sees neither the future
mean nor replicas that start instantly), so where that bound is above 0.90 × hpa-tuned, the
issue's goal cannot be reached on that trace by any learner of this kind.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from nimbusguard.simulator import model, traces

ROOT = pathlib.Path(__file__).resolve().parent.parent
WINDOW_STEPS = 41  # 10 minutes of 15 s steps, centred


def clairvoyant_mean(demand: model.FloatArray, settings: model.ModelSettings) -> float:
    """Replica-hours of the clairvoyant-mean autoscaler (module docstring)."""
    pad = WINDOW_STEPS // 2
    padded = np.pad(demand, (pad, pad), mode="edge")
    mean = np.convolve(padded, np.ones(WINDOW_STEPS) / WINDOW_STEPS, mode="valid")
    for margin in np.arange(0.0, 20.0, 0.05):
        replicas = np.clip(
            np.ceil((mean + margin) / settings.slo_utilization),
            settings.min_replicas,
            settings.max_replicas,
        )
        if (demand / replicas > settings.slo_utilization).mean() <= settings.slo_budget:
            return float(replicas.sum()) * settings.step_seconds / 3600.0
    return float("nan")


def main() -> None:
    print("| trace | hpa-tuned | oracle (÷ hpa-tuned) | clairvoyant mean (÷ hpa-tuned) |")
    print("|---|---|---|---|")
    for report_path in sorted((ROOT / "docs" / "benchmarks").glob("*.json")):
        report = json.loads(report_path.read_text())
        cfg = report["settings"]
        settings = model.ModelSettings(
            step_seconds=cfg["step_seconds"],
            startup_seconds=cfg["startup_seconds"],
            min_replicas=cfg["min_replicas"],
            max_replicas=cfg["max_replicas"],
            slo_utilization=cfg["slo_utilization"],
            slo_budget=cfg["slo_budget"],
            hpa_target=cfg["hpa_target"],
        )
        t = cfg["trace"]
        trace = traces.load(
            pathlib.Path(t["path"]),
            t["column"],
            t["trace_interval_seconds"],
            settings.step_seconds,
            2.0,
            20.0,
            t["start_hours"],
            t["end_hours"],
        )
        tuned = next(s for s in report["summary"] if s["autoscaler"] == "hpa-tuned")
        hours = tuned["replica_hours_mean"]
        oracle = cfg["oracle_replica_hours"]
        bound = clairvoyant_mean(trace.demand, settings)
        print(
            f"| {report_path.stem} | {hours:.1f} | {oracle:.1f} ({oracle / hours:.3f}) | "
            f"{bound:.1f} ({bound / hours:.3f}) |"
        )


if __name__ == "__main__":
    main()

"""One `simulate` invocation: every requested autoscaler and seed on one trace, and the report.

Deterministic autoscalers (hpa, hpa-tuned, oracle, static) give the same run for every seed;
they are run once and listed once per seed so every summary row covers the same seeds. The
Q-learner runs once per seed (exploration is random); with a Q-table each seed starts from it
as a warm start (in Learning, promoted once it beats the baseline), without one it learns from
nothing while the HPA formula acts.

The oracle is always run (replica_hours_vs_oracle needs it); hpa-tuned's ratio is there when
hpa-tuned was requested.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from nimbusguard.scaling import learner as learner_mod
from nimbusguard.simulator import baselines, learning, model, traces, tuning

AUTOSCALERS = ("qlearning", "hpa", "hpa-tuned", "oracle", "static")
DETERMINISTIC = frozenset({"hpa", "hpa-tuned", "oracle", "static"})
Progress = Callable[[str, int], Callable[[int], None] | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """What to simulate."""

    trace: traces.Trace
    settings: model.ModelSettings
    autoscalers: tuple[str, ...]
    seeds: int
    flags: learning.LearnerFlags
    qtable: bytes | None = None
    qtable_path: str | None = None
    tuned: tuning.Tuned | None = None
    tune_trace: traces.Trace | None = None
    scale_down_window: float = 300.0

    def policy(self) -> learning.PolicyHPA:
        """The HPA settings of the policy the learner works for: hpa-tuned's when it was
        tuned (the policy's own HPA, calibrated on the training window), else the flags'."""
        if self.tuned is not None:
            return learning.PolicyHPA(self.tuned.target, self.tuned.scale_down_window)
        return learning.PolicyHPA(self.settings.hpa_target, self.scale_down_window)


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """The JSON report and the seed-0 trajectory of each autoscaler (for the plot)."""

    report: dict[str, Any]
    trajectories: dict[str, model.Trajectory]


def _run_one(
    name: str, seed: int, request: Request, progress: Progress
) -> tuple[model.Trajectory, int, dict[str, Any]]:
    """Run autoscaler `name` with `seed`; returns the trajectory, its initial replicas and
    extra report fields."""
    demand, settings = request.trace.demand, request.settings
    start = request.trace.start_hours * 3600.0
    initial = settings.initial_replicas(demand)
    extra: dict[str, Any] = {}
    autoscaler: model.Autoscaler
    if name == "hpa":
        autoscaler = baselines.HPA(
            "hpa", baselines.hpa_config(settings), settings.hpa_target, settings
        )
    elif name == "hpa-tuned":
        if request.tuned is None:
            raise traces.InputError("hpa-tuned needs a tuning trace")
        autoscaler = request.tuned.autoscaler(settings)
    elif name == "oracle":
        autoscaler = baselines.Schedule("oracle", baselines.oracle_schedule(demand, settings))
    elif name == "static":
        count = baselines.static_count(demand, settings)
        autoscaler = baselines.Schedule("static", np.full(len(demand), count, dtype=np.int64))
        initial = count
    else:
        policy = request.policy()
        config = learning.learner_config(settings, request.flags, policy)
        rng = np.random.default_rng(seed)
        if request.qtable is not None:
            brain = learner_mod.QLearner.from_bytes(request.qtable, config, rng, warm_start=True)
        else:
            brain = learner_mod.QLearner(config, rng)
        autoscaler = learning.QLearning("qlearning", brain, settings, policy)
        trajectory = model.run(demand, autoscaler, settings, initial, progress(name, seed), start)
        extra["learner"] = {
            "phase": brain.phase,
            "decisions_by_mode": dict(brain.mode_counts),
            "shield_interventions": brain.shield_interventions,
            "states_visited": brain.states_visited,
            "slo_price": brain.slo_price,
            "epsilon": brain.epsilon,
        }
        return trajectory, initial, extra
    trajectory = model.run(demand, autoscaler, settings, initial, progress(name, seed), start)
    return trajectory, initial, extra


def simulate(request: Request, progress: Progress) -> Result:
    """Run the request; `progress(name, seed)` may return a step callback for a progress bar."""
    settings = request.settings
    names = list(dict.fromkeys(request.autoscalers))
    oracle_traj, oracle_init, _ = _run_one("oracle", 0, request, progress)
    oracle_hours = model.metrics(oracle_traj, oracle_init, settings.step_seconds).replica_hours
    cache: dict[str, tuple[model.Trajectory, int, dict[str, Any]]] = {
        "oracle": (oracle_traj, oracle_init, {})
    }
    runs: list[dict[str, Any]] = []
    trajectories: dict[str, model.Trajectory] = {}
    for name in names:
        for seed in range(request.seeds):
            if name in DETERMINISTIC and name in cache:
                trajectory, initial, extra = cache[name]
            else:
                trajectory, initial, extra = _run_one(name, seed, request, progress)
                if name in DETERMINISTIC:
                    cache[name] = (trajectory, initial, extra)
            if seed == 0:
                trajectories[name] = trajectory
            result = model.metrics(trajectory, initial, settings.step_seconds)
            runs.append(
                {
                    "autoscaler": name,
                    "seed": seed,
                    **dataclasses.asdict(result),
                    "meets_slo_budget": result.slo_violation_fraction <= settings.slo_budget,
                    **extra,
                }
            )
    tuned_hours = {r["seed"]: r["replica_hours"] for r in runs if r["autoscaler"] == "hpa-tuned"}
    for run in runs:
        run["replica_hours_vs_oracle"] = _ratio(run["replica_hours"], oracle_hours)
        tuned = tuned_hours.get(run["seed"])
        run["replica_hours_vs_hpa_tuned"] = (
            None if tuned is None else _ratio(run["replica_hours"], tuned)
        )
    report = {
        "runs": runs,
        "summary": [_summary(name, runs, settings, oracle_hours, tuned_hours) for name in names],
        "settings": _settings(request, oracle_hours),
    }
    return Result(report, trajectories)


def _ratio(value: float, reference: float) -> float | None:
    return value / reference if reference > 0 else None


def _summary(
    name: str,
    runs: list[dict[str, Any]],
    settings: model.ModelSettings,
    oracle_hours: float,
    tuned_hours: dict[int, float],
) -> dict[str, Any]:
    mine = [r for r in runs if r["autoscaler"] == name]
    hours = [r["replica_hours"] for r in mine]
    violations = [r["slo_violation_fraction"] for r in mine]
    mean_hours = statistics.fmean(hours)
    tuned_mean = statistics.fmean(tuned_hours.values()) if tuned_hours else None
    return {
        "autoscaler": name,
        "seeds": len(mine),
        "slo_violation_fraction_mean": statistics.fmean(violations),
        "slo_violation_fraction_max": max(violations),
        "replica_hours_mean": mean_hours,
        "replica_hours_std": statistics.pstdev(hours),
        "replica_hours_vs_oracle": _ratio(mean_hours, oracle_hours),
        "replica_hours_vs_hpa_tuned": None
        if tuned_mean is None
        else _ratio(mean_hours, tuned_mean),
        "scale_events_per_hour_mean": statistics.fmean(r["scale_events_per_hour"] for r in mine),
        "max_violation_minutes_max": max(r["max_violation_minutes"] for r in mine),
        "meets_slo_budget_all_seeds": max(violations) <= settings.slo_budget,
    }


def _trace_settings(trace: traces.Trace) -> dict[str, Any]:
    return {
        "path": trace.path,
        "column": trace.column,
        "trace_interval_seconds": trace.interval_seconds,
        "start_hours": trace.start_hours,
        "end_hours": trace.end_hours,
        "steps": len(trace.demand),
        "skipped_cells": trace.skipped_cells,
    }


def _settings(request: Request, oracle_hours: float) -> dict[str, Any]:
    settings = request.settings
    out: dict[str, Any] = {
        **dataclasses.asdict(settings),
        "startup_steps": settings.startup_steps,
        "initial_replicas": settings.initial_replicas(request.trace.demand),
        "trace": _trace_settings(request.trace),
        "seeds": request.seeds,
        "autoscalers": list(dict.fromkeys(request.autoscalers)),
        "oracle_replica_hours": oracle_hours,
        "hpa": {"target": settings.hpa_target, "tolerance": 0.1, "scale_down_window": 300.0},
        "learner": {**dataclasses.asdict(request.flags), "qtable": request.qtable_path},
    }
    if request.tuned is not None:
        out["hpa_tuned"] = {
            **dataclasses.asdict(request.tuned),
            "grid_targets": list(tuning.TARGETS),
            "grid_windows": list(tuning.WINDOWS),
        }
        if request.tune_trace is not None:
            out["hpa_tuned"]["trace"] = _trace_settings(request.tune_trace)
    return out

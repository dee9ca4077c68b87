"""hpa-tuned: the HPA calibrated on a training trace, never on the trace it is tested on.

A grid over the HPA target utilization and the scale-down stabilization window; the winner is
the lowest replica-hours on the training trace among the settings that meet the SLO budget there
(ties: the lower target, then the longer window, i.e. the more conservative). If none meets the
budget, the setting with the fewest violations wins and `meets_budget` says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nimbusguard.simulator import baselines, loop, model

TARGETS = tuple(round(float(t), 3) for t in np.arange(0.5, 0.9001, 0.025))
WINDOWS = (0.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Tuned:
    """The chosen HPA settings and how they did on the training trace."""

    target: float
    scale_down_window: float
    train_replica_hours: float
    train_slo_violation_fraction: float
    meets_budget: bool
    candidates: int

    def autoscaler(self, settings: model.ModelSettings) -> loop.OperatorLoop:
        """An HPA with these settings for the model."""
        config = baselines.hpa_config(settings, self.scale_down_window)
        return baselines.HPA("hpa-tuned", config, self.target, settings)


def tune(
    demand: model.FloatArray,
    settings: model.ModelSettings,
    progress: Callable[[int], None] | None = None,
) -> Tuned:
    """Grid-search TARGETS × WINDOWS on `demand` (module docstring); `progress` gets the
    steps done, as model.run gives them (for the CLI's progress bar)."""
    initial = settings.initial_replicas(demand)
    rows: list[tuple[float, float, float, float]] = []  # (hours, violations, target, window)
    for target in TARGETS:
        for window in WINDOWS:
            config = baselines.hpa_config(settings, window)
            hpa_run = baselines.HPA("hpa", config, target, settings)
            result = model.metrics(
                model.run(demand, hpa_run, settings, initial, progress=progress),
                initial,
                settings.step_seconds,
            )
            rows.append((result.replica_hours, result.slo_violation_fraction, target, window))
    ok = [r for r in rows if r[1] <= settings.slo_budget]
    if ok:
        best = min(ok, key=lambda r: (r[0], r[2], -r[3]))
    else:
        best = min(rows, key=lambda r: (r[1], r[0]))
    return Tuned(
        target=best[2],
        scale_down_window=best[3],
        train_replica_hours=best[0],
        train_slo_violation_fraction=best[1],
        meets_budget=bool(ok),
        candidates=len(rows),
    )

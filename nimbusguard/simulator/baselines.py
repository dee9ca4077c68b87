"""The autoscalers the learner is compared with: the HPA, the static count and the oracle."""

from __future__ import annotations

import dataclasses

import numpy as np

from nimbusguard.scaling import hpa
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import loop, model


def hpa_config(settings: model.ModelSettings, scale_down_window: float = 300.0) -> hpa.HPAConfig:
    """Kubernetes' default behavior within the model's replica bounds."""
    default = hpa.HPAConfig(min_replicas=settings.min_replicas, max_replicas=settings.max_replicas)
    down = dataclasses.replace(default.scale_down, stabilization_window_seconds=scale_down_window)
    return dataclasses.replace(default, scale_down=down)


def HPA(  # noqa: N802 - it stands for the autoscaler it builds
    name: str, config: hpa.HPAConfig, target: float, settings: model.ModelSettings
) -> loop.OperatorLoop:
    """The operator's HPA baseline (`nimbusguard.scaling.hpa`) acting alone, through the
    operator's loop (evaluation interval and cooldowns of `settings`).

    `target` is the HPA's target utilization; observations arrive in units of the model's
    `hpa_target`, so they are rescaled when the two differ (hpa-tuned).
    """
    return loop.OperatorLoop(name, settings, config, None, settings.hpa_target / target)


class Schedule:
    """Replays a precomputed replica count per step (static and oracle)."""

    def __init__(self, name: str, replicas: model.IntArray) -> None:
        self.name = name
        self._replicas = replicas

    def decide(self, step: int, obs: Observation) -> int:
        return int(self._replicas[step])


def oracle_schedule(demand: model.FloatArray, settings: model.ModelSettings) -> model.IntArray:
    """Fewest replicas that never violate, knowing the future and the startup delay.

    A replica ready at step t must have been requested by step t - k (k = startup steps) and kept
    since, so after the decision of step s exactly max(need[s+1 .. s+k]) replicas must exist;
    anything less violates and anything more costs more. When the count falls, every replica is
    ready (the falling step's own need was the maximum), so no pending replica is removed.
    """
    need = settings.needed(demand)
    k = settings.startup_steps
    n = len(need)
    padded = np.concatenate((need[1:], np.full(k, need[-1], dtype=np.int64)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    return np.asarray(windows.max(axis=1)[:n], dtype=np.int64)


def static_count(demand: model.FloatArray, settings: model.ModelSettings) -> int:
    """The fixed replica count that never violates (capped at max_replicas)."""
    return int(settings.needed(demand).max())

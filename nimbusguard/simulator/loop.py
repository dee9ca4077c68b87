"""The operator's loop around a decider: one evaluation per interval, cooldowns, decide-then-learn.

`OperatorLoop` is a simulator autoscaler that does, per evaluation, exactly what the workflow
does: `nimbusguard.scaling.evaluation.decide` (HPA recommendation, learner, cooldown), the
baselines' `record_scale` when the replicas change, then the learner's `learn` on the same
observation. Between evaluations (steps before the next `evaluation_interval_seconds`) the
replicas stay as they are, as they do in a cluster. With `learner=None` it is the HPA acting
alone through the same loop (`hpa`, `hpa-tuned`, and every tuning candidate).

`utilization_scale` converts the model's utilization (against `ModelSettings.hpa_target`) into
the policy's own (against its target), so an HPA tuned to another target and a learner behind it
see the metric exactly as that policy's operator would.
"""

from __future__ import annotations

import dataclasses

from nimbusguard.scaling import evaluation, hpa, learner as learner_mod
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import model

_SLACK = 1e-6


@dataclasses.dataclass(frozen=True, slots=True)
class Cooldowns:
    """spec.scaling's cooldown fields (`nimbusguard.scaling.cooldowns.CooldownSpec`)."""

    cooldown_period: int = 0
    scale_up_cooldown: int | None = None
    scale_down_cooldown: int | None = None

    @classmethod
    def of(cls, settings: model.ModelSettings) -> Cooldowns:
        return cls(
            0,
            round(settings.scale_up_cooldown_seconds),
            round(settings.scale_down_cooldown_seconds),
        )


class OperatorLoop:
    """One policy's evaluations in the simulator (module docstring)."""

    def __init__(
        self,
        name: str,
        settings: model.ModelSettings,
        config: hpa.HPAConfig,
        learner: learner_mod.QLearner | None = None,
        utilization_scale: float = 1.0,
    ) -> None:
        self.name = name
        self.learner = learner
        self.baseline = hpa.HPABaseline(config)
        self.modes: list[str] = []
        self._interval = settings.evaluation_interval_seconds
        self._cooldowns = Cooldowns.of(settings)
        self._scale = utilization_scale
        self._next: float | None = None
        self._last_scaling: float | None = None

    def decide(self, step: int, obs: Observation) -> int:
        if self._next is not None and obs.time < self._next - _SLACK:
            return obs.replicas  # no evaluation at this step
        self._next = obs.time + self._interval
        if self._scale != 1.0:
            obs = dataclasses.replace(obs, utilization=obs.utilization * self._scale)
        result = evaluation.decide(
            obs, self.baseline, self.learner, self._cooldowns, self._last_scaling
        )
        if result.replicas != obs.replicas:
            evaluation.record((self.baseline,), obs.time, obs.replicas, result.replicas)
            self._last_scaling = obs.time
        if self.learner is not None:
            self.learner.learn(obs)
            self.modes.append(result.mode)
        return result.replicas

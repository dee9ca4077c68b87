"""The Q-learner in the simulator: the operator's decide/learn code in a loop, and training.

`QLearning` is an autoscaler that does, per step, exactly what the operator's workflow does per
evaluation (`nimbusguard.scaling.learner` module docstring): HPA recommendation, learner
decision (the baseline acts while Learning), `record_scale`, learn. Nothing here decides or
learns on its own.

`train` runs episodes over a training trace. Between episodes it calibrates λ, the price of a
violation, from the violation rate of the steps where the learner acted: the price is multiplied
by rate ÷ aim (clipped to [0.5, 2]), aim = `BUDGET_SHARE` × the SLO budget. This is the
learner's counterpart of hpa-tuned's grid search: both are calibrated on training data only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nimbusguard.scaling import hpa, learner
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import baselines, model

BUDGET_SHARE = 0.7  # aim at 70 % of the SLO budget, leaving room for a test trace's surprises
MIN_ACTIVE_STEPS = 500  # fewer learner-acted steps say too little to move the price


@dataclasses.dataclass(frozen=True, slots=True)
class LearnerFlags:
    """The learner's settings that `simulate` and `train` take as flags."""

    learning_rate: float = 0.02
    discount_factor: float = 0.9
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_decisions: int = 1000


def learner_config(settings: model.ModelSettings, flags: LearnerFlags) -> learner.LearnerConfig:
    """The learner configuration for the model: its bounds, its startup delay as the horizon,
    and its SLO as a ratio to the HPA target."""
    default = learner.LearnerConfig()
    return learner.LearnerConfig(
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        learning_rate=flags.learning_rate,
        discount_factor=flags.discount_factor,
        epsilon_start=flags.epsilon_start,
        epsilon_end=flags.epsilon_end,
        epsilon_decay_decisions=flags.epsilon_decay_decisions,
        reward=dataclasses.replace(
            default.reward, slo_ratio=settings.slo_utilization / settings.hpa_target
        ),
        horizon_seconds=settings.startup_seconds,
    )


class QLearning:
    """The operator's per-evaluation sequence as a simulator autoscaler."""

    def __init__(self, name: str, brain: learner.QLearner, settings: model.ModelSettings) -> None:
        self.name = name
        self.learner = brain
        self._baseline = hpa.HPABaseline(baselines.hpa_config(settings))
        self.modes: list[str] = []

    def decide(self, step: int, obs: Observation) -> int:
        self.learner.learn(obs)
        choice = self.learner.decide(obs, self._baseline.recommend(obs))
        if choice.replicas != obs.replicas:
            self._baseline.record_scale(obs.time, obs.replicas, choice.replicas)
        self.modes.append(choice.mode)
        return choice.replicas


@dataclasses.dataclass(frozen=True, slots=True)
class Episode:
    """What one training episode did."""

    number: int
    slo_violation_fraction: float
    learner_violation_fraction: float | None
    learner_share: float
    replica_hours: float
    slo_price: float
    phase: str


def train(
    demand: model.FloatArray,
    settings: model.ModelSettings,
    config: learner.LearnerConfig,
    episodes: int,
    seed: int,
    on_episode: Callable[[Episode], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> learner.QLearner:
    """Train a learner on `demand` for `episodes` passes (module docstring)."""
    brain = learner.QLearner(config, np.random.default_rng(seed))
    aim = BUDGET_SHARE * settings.slo_budget
    for number in range(1, episodes + 1):
        brain.forget_episode()
        autoscaler = QLearning("qlearning", brain, settings)
        trajectory = model.run(demand, autoscaler, settings, progress=progress)
        acted = np.array([mode != "baseline" for mode in autoscaler.modes])
        rate = None
        if acted.sum() >= MIN_ACTIVE_STEPS:
            rate = float(trajectory.violations[acted].mean())
            factor = float(np.clip(max(rate, 1e-4) / aim, 0.5, 2.0)) if aim > 0 else 2.0
            brain.set_slo_price(brain.slo_price * factor)
        if on_episode is not None:
            metrics = model.metrics(
                trajectory, settings.initial_replicas(demand), settings.step_seconds
            )
            on_episode(
                Episode(
                    number=number,
                    slo_violation_fraction=metrics.slo_violation_fraction,
                    learner_violation_fraction=rate,
                    learner_share=float(acted.mean()),
                    replica_hours=metrics.replica_hours,
                    slo_price=brain.slo_price,
                    phase=brain.phase,
                )
            )
    return brain

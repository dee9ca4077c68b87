"""The Q-learner in the simulator: the operator's decide/learn code in a loop, and training.

`QLearning` is an autoscaler that does, per step, exactly what the operator's workflow does per
evaluation (`nimbusguard.scaling.learner` module docstring): HPA recommendation, learner
decision (the baseline acts while Learning), `record_scale`, learn. Nothing here decides or
learns on its own.

`train` runs episodes over a training trace with the default price of a violation (λ), then
calibrates λ like hpa-tuned's grid search: one more pass over the training trace per price in
`PRICE_FACTORS` × the default (each from the trained table, learning on as it would in a test),
and the cheapest price whose violations stay within the SLO budget wins (if none does, the one
with the fewest violations): the rule hpa-tuned follows. The Q-values need no relearning for
another λ (they are kept per reward part). Both calibrations use the training data only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nimbusguard.scaling import hpa, learner
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import baselines, model

BUDGET_SHARE = 1.0  # the rule hpa-tuned follows: the cheapest setting within the budget
PRICE_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


_OPERATOR = learner.LearnerConfig()  # the defaults, which a unit test ties to the API's


@dataclasses.dataclass(frozen=True, slots=True)
class LearnerFlags:
    """The learner's settings that `simulate` and `train` take as flags (operator defaults)."""

    learning_rate: float = _OPERATOR.learning_rate
    discount_factor: float = _OPERATOR.discount_factor
    epsilon_start: float = _OPERATOR.epsilon_start
    epsilon_end: float = _OPERATOR.epsilon_end
    epsilon_decay_decisions: int = _OPERATOR.epsilon_decay_decisions


def learner_config(settings: model.ModelSettings, flags: LearnerFlags) -> learner.LearnerConfig:
    """The learner configuration for the model: its bounds, its startup delay as the horizon,
    and its SLO as a ratio to the HPA target."""
    return learner.LearnerConfig(
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        learning_rate=flags.learning_rate,
        discount_factor=flags.discount_factor,
        epsilon_start=flags.epsilon_start,
        epsilon_end=flags.epsilon_end,
        epsilon_decay_decisions=flags.epsilon_decay_decisions,
        reward=dataclasses.replace(
            _OPERATOR.reward, slo_ratio=settings.slo_utilization / settings.hpa_target
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
    """What one training episode (or one calibration pass) did."""

    number: int
    slo_violation_fraction: float
    learner_share: float
    replica_hours: float
    slo_price: float
    phase: str
    calibration: bool = False


def _pass(
    demand: model.FloatArray,
    settings: model.ModelSettings,
    brain: learner.QLearner,
    progress: Callable[[int], None] | None,
) -> tuple[model.RunMetrics, float]:
    brain.forget_episode()
    autoscaler = QLearning("qlearning", brain, settings)
    trajectory = model.run(demand, autoscaler, settings, progress=progress)
    acted = sum(mode != "baseline" for mode in autoscaler.modes) / max(len(autoscaler.modes), 1)
    initial = settings.initial_replicas(demand)
    return model.metrics(trajectory, initial, settings.step_seconds), acted


def train(
    demand: model.FloatArray,
    settings: model.ModelSettings,
    config: learner.LearnerConfig,
    episodes: int,
    seed: int,
    on_episode: Callable[[Episode], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> learner.QLearner:
    """Train a learner on `demand` for `episodes` passes, then calibrate its price of a
    violation (module docstring)."""
    brain = learner.QLearner(config, np.random.default_rng(seed))
    for number in range(1, episodes + 1):
        metrics, acted = _pass(demand, settings, brain, progress)
        if on_episode is not None:
            on_episode(
                Episode(number, metrics.slo_violation_fraction, acted, metrics.replica_hours,
                        brain.slo_price, brain.phase)
            )  # fmt: skip
    trained = brain.to_bytes()
    aim = BUDGET_SHARE * settings.slo_budget
    trials: list[tuple[bool, float, float]] = []  # (misses the aim, cost or violations, price)
    for number, factor in enumerate(PRICE_FACTORS, start=episodes + 1):
        price = config.reward.slo * factor
        trial = learner.QLearner.from_bytes(trained, config, np.random.default_rng(seed))
        trial.set_slo_price(price)
        metrics, acted = _pass(demand, settings, trial, progress)
        if on_episode is not None:
            on_episode(
                Episode(number, metrics.slo_violation_fraction, acted, metrics.replica_hours,
                        price, trial.phase, calibration=True)
            )  # fmt: skip
        misses = metrics.slo_violation_fraction > aim
        trials.append(
            (misses, metrics.slo_violation_fraction if misses else metrics.replica_hours, price)
        )
    brain.set_slo_price(min(trials)[2])
    return brain

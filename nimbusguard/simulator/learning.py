"""The Q-learner in the simulator: the operator's decide/learn code in a loop, and training.

`QLearning` is the operator's loop (`nimbusguard.simulator.loop`) around a learner: per
evaluation exactly what the workflow does (`nimbusguard.scaling.evaluation`): HPA
recommendation, learner decision (the baseline acts while Learning), cooldown, `record_scale`,
then learn. The learner's baseline is the policy's own HPA (`PolicyHPA`: its target and
scale-down window). Nothing here decides or learns on its own.

`train` runs episodes over a training trace exactly as the policy would live through it: the
forecaster fits itself online, the Q-table learns every action's outcome, and the budget
controller moves the price of a violation λ towards the SLO budget (there is no offline price
grid: λ keeps adapting in the test, as it would in a cluster). The first episode starts in
Learning behind the policy's HPA; later ones go on from where the previous one ended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nimbusguard.scaling import learner
from nimbusguard.simulator import baselines, loop, model

MIN_TRAINING_SECONDS = 3600.0  # the forecaster's slowest level and error model need this


_OPERATOR = learner.LearnerConfig()  # the defaults, which a unit test ties to the API's


@dataclasses.dataclass(frozen=True, slots=True)
class LearnerFlags:
    """The learner's settings that `simulate` and `train` take as flags (operator defaults)."""

    learning_rate: float = _OPERATOR.learning_rate
    discount_factor: float = _OPERATOR.discount_factor
    epsilon_start: float = _OPERATOR.epsilon_start
    epsilon_end: float = _OPERATOR.epsilon_end
    epsilon_decay_decisions: int = _OPERATOR.epsilon_decay_decisions


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyHPA:
    """The HPA settings of the policy the learner works for: its baseline and fallback."""

    target: float = 0.7
    scale_down_window: float = 300.0

    @classmethod
    def default(cls, settings: model.ModelSettings) -> PolicyHPA:
        return cls(settings.hpa_target)


def learner_config(
    settings: model.ModelSettings, flags: LearnerFlags, policy: PolicyHPA | None = None
) -> learner.LearnerConfig:
    """The learner configuration for the model: its bounds, its startup delay as the horizon,
    and its SLO as a ratio to the policy's HPA target."""
    target = settings.hpa_target if policy is None else policy.target
    return learner.LearnerConfig(
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        learning_rate=flags.learning_rate,
        discount_factor=flags.discount_factor,
        epsilon_start=flags.epsilon_start,
        epsilon_end=flags.epsilon_end,
        epsilon_decay_decisions=flags.epsilon_decay_decisions,
        reward=dataclasses.replace(_OPERATOR.reward, slo_ratio=settings.slo_utilization / target),
        horizon_seconds=settings.startup_seconds,
        interval_seconds=settings.evaluation_interval_seconds,
        slo_budget=settings.slo_budget,
        slo_sample_seconds=settings.step_seconds,
    )


def QLearning(  # noqa: N802 - it stands for the autoscaler it builds
    name: str,
    brain: learner.QLearner,
    settings: model.ModelSettings,
    policy: PolicyHPA | None = None,
) -> loop.OperatorLoop:
    """The operator's loop around `brain`, behind the policy's own HPA (module docstring)."""
    policy = PolicyHPA.default(settings) if policy is None else policy
    config = baselines.hpa_config(settings, policy.scale_down_window)
    return loop.OperatorLoop(name, settings, config, brain, settings.hpa_target / policy.target)


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
    policy: PolicyHPA | None,
    start_seconds: float,
) -> tuple[model.RunMetrics, float]:
    brain.forget_episode()
    autoscaler = QLearning("qlearning", brain, settings, policy)
    trajectory = model.run(
        demand, autoscaler, settings, progress=progress, start_seconds=start_seconds
    )
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
    policy: PolicyHPA | None = None,
    start_seconds: float = 0.0,
) -> learner.QLearner:
    """Train a learner on `demand` for `episodes` passes (module docstring).

    A trace shorter than `MIN_TRAINING_SECONDS` cannot fit the forecaster: ValueError."""
    if len(demand) * settings.step_seconds < MIN_TRAINING_SECONDS:
        raise ValueError(
            f"the training window holds {len(demand)} steps of {settings.step_seconds:g} s; the "
            f"forecaster needs at least {MIN_TRAINING_SECONDS / 3600:g} h"
        )
    brain = learner.QLearner(config, np.random.default_rng(seed))
    for number in range(1, episodes + 1):
        metrics, acted = _pass(demand, settings, brain, progress, policy, start_seconds)
        if on_episode is not None:
            on_episode(
                Episode(number, metrics.slo_violation_fraction, acted, metrics.replica_hours,
                        brain.slo_price, brain.phase)
            )  # fmt: skip
    return brain

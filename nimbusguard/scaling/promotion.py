"""Promotion to Active and demotion to Learning, from windows of rewards.

Rewards arrive once per judged decision (see `nimbusguard.scaling.reward`), in windows of
`window_decisions`:

- Learning: a window is *beaten* when the mean shadow reward of the learner's preferred actions
  is higher than the mean reward of the HPA baseline's recommendations over the same decisions.
  After `windows` consecutive beaten windows the policy becomes Active (condition
  BaselineBeaten=True, with the numbers). A window not beaten resets the count.
- Active: at each window's end, if the mean reward of what the learner did is below the
  baseline's by more than `demotion_margin` × |baseline's mean|, the policy goes back to Learning
  and says by how much.
"""

from __future__ import annotations

import dataclasses

LEARNING = "Learning"
ACTIVE = "Active"


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """A phase change and why, for the BaselineBeaten condition and the Event."""

    phase: str  # the new phase
    reason: str  # CamelCase condition reason
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class PromotionConfig:
    """`spec.aiConfig.promotion`; defaults are the API's."""

    windows: int = 5
    window_decisions: int = 20
    demotion_margin: float = 0.1

    def __post_init__(self) -> None:
        if self.windows < 1 or self.window_decisions < 1 or self.demotion_margin < 0:
            raise ValueError("windows and window_decisions must be >= 1, demotion_margin >= 0")


class PromotionTracker:
    """Counts windows and decides the phase (module docstring)."""

    def __init__(
        self, config: PromotionConfig, phase: str = LEARNING, windows_beaten: int = 0
    ) -> None:
        self.config = config
        self.phase = phase
        self.windows_beaten = windows_beaten
        self.learner_mean: float | None = None  # of the last complete window
        self.baseline_mean: float | None = None
        self._learner_sum = 0.0
        self._baseline_sum = 0.0
        self._count = 0

    def record(self, learner_reward: float, baseline_reward: float) -> Transition | None:
        """Add one judged decision: the learner's reward (shadow while Learning, real while
        Active) and the baseline's; returns a Transition when the phase changes."""
        self._learner_sum += learner_reward
        self._baseline_sum += baseline_reward
        self._count += 1
        if self._count < self.config.window_decisions:
            return None
        n = self._count
        learner, baseline = self._learner_sum / n, self._baseline_sum / n
        self.learner_mean, self.baseline_mean = learner, baseline
        self._learner_sum = self._baseline_sum = 0.0
        self._count = 0
        cfg = self.config
        if self.phase == LEARNING:
            self.windows_beaten = self.windows_beaten + 1 if learner > baseline else 0
            if self.windows_beaten < cfg.windows:
                return None
            self.phase = ACTIVE
            return Transition(
                ACTIVE,
                "BaselineBeaten",
                f"the learner's shadow reward beat the HPA baseline in {self.windows_beaten} "
                f"consecutive windows of {n} decisions (last window {learner:.3f} vs "
                f"{baseline:.3f})",
            )
        if learner < baseline - cfg.demotion_margin * abs(baseline):
            self.phase = LEARNING
            self.windows_beaten = 0
            return Transition(
                LEARNING,
                "FellBehindBaseline",
                f"the learner's rolling reward {learner:.3f} fell behind the HPA baseline's "
                f"{baseline:.3f} by more than {cfg.demotion_margin:.0%} over {n} decisions; "
                "the baseline acts again while the learner keeps learning",
            )
        return None

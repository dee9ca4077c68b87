"""The learner's discrete actions: hold, or provision for the load at one of a few utilizations.

Action 0 is *hold* (keep the current replicas). Action i ≥ 1 sets
`replicas = ceil(load ÷ levels[i-1])`: it provisions so that the load runs at `levels[i-1]` ×
target. A level below 1 keeps headroom, above 1 runs hot (the SLO threshold is higher still).

The load it provisions for is `max(demand now, demand over the last minute)` (the learner's
fast level): a spike is answered at once, a dip is not, which keeps noise from turning into
scale-downs that a returning load then has to wait a startup for.

Choosing a level rather than a replica delta keeps the table independent of the workload's size
(a state means the same at 3 replicas and at 300) and lets one decision close a large gap, as
the HPA formula does; it follows the "Q-learning tunes the threshold" idea (Horovitz & Arian,
FiCloud 2018). The levels stop at 0.8 and 1.2: wider ones (0.6 and 0.7 were tried) were almost
never right and their noisy estimates made the policy worse.
"""

from __future__ import annotations

import dataclasses
import math

HOLD = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ActionSet:
    """Utilization levels (× target) the learner may provision for; part of a table's layout."""

    levels: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2)

    def __post_init__(self) -> None:
        if not self.levels or any(level <= 0 for level in self.levels):
            raise ValueError("levels must be positive and not empty")
        if list(self.levels) != sorted(self.levels):
            raise ValueError("levels must be sorted")

    @property
    def size(self) -> int:
        """Number of actions, hold included."""
        return len(self.levels) + 1

    def name(self, action: int) -> str:
        """Short name for metric labels and explanations."""
        return "hold" if action == HOLD else f"run at {self.levels[action - 1]:.1f}× target"

    def targets(self, load: float, current: int) -> list[int]:
        """Replicas each action asks for, before the shield (index = action)."""
        out = [current]
        for level in self.levels:
            # The slack keeps 4.0 ÷ 1.0 at 4, not 5, when the load carries rounding noise.
            out.append(math.ceil(load / level - 1e-9))
        return out

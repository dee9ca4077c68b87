"""Status conditions (the metav1.Condition shape), set the way Kubernetes controllers do.

`lastTransitionTime` changes only when a condition's status changes; reason and message are
refreshed on every write. Pure functions over the api/v1 models.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Sequence
from typing import Final

from api.v1 import scalingpolicy_types as types

READY: Final = "Ready"
TARGET_FOUND: Final = "TargetFound"
CLUSTER_REACHABLE: Final = "ClusterReachable"
METRICS_AVAILABLE: Final = "MetricsAvailable"
FALLBACK: Final = "Fallback"
CONFLICT: Final = "Conflict"
BASELINE_BEATEN: Final = "BaselineBeaten"
QTABLE_LOADED: Final = "QTableLoaded"
# The learner's table was written where it is kept (False: it could not be; retried).
QTABLE_SAVED: Final = "QTableSaved"
# The target and the metric endpoint are allowed by the operator's tenancy and endpoint lists.
PERMITTED: Final = "Permitted"

# Order in which conditions appear in status (Ready first, as `kubectl describe` readers expect).
ORDER: Final = (
    READY,
    PERMITTED,
    TARGET_FOUND,
    CLUSTER_REACHABLE,
    METRICS_AVAILABLE,
    FALLBACK,
    CONFLICT,
    BASELINE_BEATEN,
    QTABLE_LOADED,
    QTABLE_SAVED,
)


@dataclasses.dataclass(frozen=True)
class Update:
    """One condition as a decision function wants it; time and generation are added later."""

    type: str
    status: bool | None  # None = Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> types.ConditionStatus:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def apply(
    current: Sequence[types.Condition],
    updates: Iterable[Update],
    *,
    now: datetime.datetime,
    generation: int | None,
) -> list[types.Condition]:
    """Merge `updates` into `current`; conditions not mentioned are kept unchanged."""
    by_type = {c.type: c for c in current}
    for upd in updates:
        old = by_type.get(upd.type)
        changed = old is None or old.status != upd.status_text
        by_type[upd.type] = types.Condition(
            type=upd.type,
            status=upd.status_text,
            reason=upd.reason,
            message=upd.message[:32768],
            last_transition_time=now if changed or old is None else old.last_transition_time,
            observed_generation=generation,
        )
    rank = {t: i for i, t in enumerate(ORDER)}
    return sorted(by_type.values(), key=lambda c: (rank.get(c.type, len(rank)), c.type))


def get(conditions: Sequence[types.Condition], type_: str) -> types.Condition | None:
    for cond in conditions:
        if cond.type == type_:
            return cond
    return None


def is_true(conditions: Sequence[types.Condition], type_: str) -> bool:
    cond = get(conditions, type_)
    return cond is not None and cond.status == "True"

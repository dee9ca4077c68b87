"""The shield: what the learner may never do, whatever its Q-values say.

For each action's replica target the shield approves it, caps it, or vetoes it:

1. *Veto*: a scale-down that would put the current load above the SLO at once
   (load ÷ replicas > `slo_ratio`).
2. *Veto*: holding or scaling down while the SLO is breached now (utilization > `slo_ratio`):
   the learner cannot sit out a breach.
3. *Cap*: a target beyond minReplicas/maxReplicas or beyond the rate policies' step limits
   (`Recommendation.lowest_allowed`/`highest_allowed`, the numbers the HPA baseline obeys) is
   capped at that limit: a capped action means "as far as allowed", and the learner learns the
   outcome of the capped value, so nothing it learns assumes a forbidden step.

There is no veto tied to the HPA's target: the headroom is the SLO's business (the learner's
budget controller), and a veto of scale-downs above the target only kept the learner from
trimming to the headroom it had learned (measured: it cost, and saved no violation).

If every action is vetoed (a breach at maxReplicas, say), the actions with the largest target
are approved: nothing else is safer. Exploration and exploitation choose only among approved
actions.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """The shield's answer for one decision.

    `targets[a]` is the replicas action `a` would set after capping; `approved[a]` says whether
    it may be chosen; `notes` lists (action, reason) for every veto or cap.
    """

    targets: list[int]
    approved: list[bool]
    notes: list[tuple[int, str]]


def check(
    raw_targets: list[int],
    current: int,
    load: float,
    utilization: float,
    lowest: int,
    highest: int,
    slo_ratio: float,
) -> Verdict:
    """Apply the rules of the module docstring to `raw_targets` (index = action).

    `load` is in target units (replicas needed at exactly the target), `utilization` the
    observed ratio to the target, [`lowest`, `highest`] the allowed range now.
    """
    targets: list[int] = []
    approved: list[bool] = []
    notes: list[tuple[int, str]] = []
    breached = utilization > slo_ratio
    for action, raw in enumerate(raw_targets):
        target = raw
        if target > highest:
            target = highest
            notes.append((action, f"capped {raw} → {highest} (step limit or maxReplicas)"))
        elif target < lowest:
            target = lowest
            notes.append((action, f"capped {raw} → {lowest} (step limit or minReplicas)"))
        ok = True
        if breached and target <= current:
            ok = False
            notes.append((action, f"vetoed {target}: the SLO is breached, replicas must grow"))
        elif target < current and load > slo_ratio * target:
            ok = False
            notes.append((action, f"vetoed scale-down to {target}: it would breach the SLO"))
        targets.append(target)
        approved.append(ok)
    if not any(approved):
        most = max(targets)
        approved = [t == most for t in targets]
    return Verdict(targets, approved, notes)

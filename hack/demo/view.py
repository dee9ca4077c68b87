"""The demo's live view: what the operator sees and decides, refreshed every few seconds."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

CLEAR = "\033[2J\033[H"


def render(
    *,
    clock: str,
    demand: float,
    target_utilization: float,
    policy: dict[str, Any],
    replicas: int,
    ready: int,
    width: int | None = None,
) -> str:
    """One screen (pure; the caller prints it)."""
    width = width or min(shutil.get_terminal_size((100, 30)).columns, 120)
    status = policy.get("status") or {}
    decision = status.get("lastDecision") or {}
    learning = status.get("learning") or {}
    utilization = demand / ready if ready else float("inf")
    lines = [
        f"NimbusGuard demo — {clock} of the Alibaba 2018 trace    (Ctrl-C stops and cleans up)",
        "",
        f"  load         {demand:5.1f} cores   utilization {utilization:4.2f} per replica "
        f"(target {target_utilization:.2f})",
        f"  target       member/demo/shop: {replicas} replicas, {ready} ready",
        f"  policy       hub/demo/shop: phase {status.get('phase', '—')}, "
        f"desired {status.get('targetReplicas', '—')}, next scale allowed "
        f"{status.get('nextScaleTime', 'now')}",
    ]
    if learning:
        lines.append(
            f"  learner      epsilon {learning.get('epsilon', 0):.3f}, "
            f"{learning.get('updates', 0)} updates, {learning.get('statesVisited', 0)} states, "
            f"windows beaten {learning.get('windowsBeaten', 0)}"
        )
    if decision:
        lines.append(
            f"  decision     {decision.get('action')} {decision.get('fromReplicas')} → "
            f"{decision.get('toReplicas')} by {decision.get('mode')} "
            f"(confidence {decision.get('confidence', 0):.2f})"
        )
        wrapped = textwrap.wrap(decision.get("reasoning", ""), width=max(40, width - 15))
        lines += [f"  {'reasoning' if i == 0 else '':<12} {w}" for i, w in enumerate(wrapped[:4])]
    ready_cond = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    if ready_cond:
        lines.append(f"  ready        {ready_cond['status']}: {ready_cond.get('message', '')}")
    return "\n".join(lines)


def one_line(*, clock: str, demand: float, policy: dict[str, Any], replicas: int) -> str:
    """A single log line for non-interactive output (CI, pipes)."""
    status = policy.get("status") or {}
    decision = status.get("lastDecision") or {}
    return (
        f"{clock} demand={demand:.1f} replicas={replicas} phase={status.get('phase')} "
        f"decision={decision.get('action')}:{decision.get('fromReplicas')}→"
        f"{decision.get('toReplicas')} mode={decision.get('mode')}"
    )

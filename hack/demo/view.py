"""The demo's live view and log: who acts, why, what the HPA formula would have done, and the
running tally against it (pure; the caller prints)."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import re
import shutil
import textwrap
from typing import Any

CLEAR = "\033[2J\033[H"
DASH = "—"


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == kind), {}
    )
    return found


def _or_dash(value: Any) -> str:
    return DASH if value is None else str(value)


@dataclasses.dataclass
class Tally:
    """What the demo has seen so far, from the API servers: decisions, replicas over time."""

    slo_ratio: float
    decisions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add_sample(self, at: float, replicas: int, baseline: int | None) -> None:
        self.samples.append({"t": at, "replicas": replicas, "hpa": baseline})

    def add_decision(self, record: dict[str, Any]) -> bool:
        """Record the policy's last decision; False when it is the one seen last time."""
        if self.decisions and self.decisions[-1]["time"] == record["time"]:
            return False
        self.decisions.append(record)
        return True

    def summary(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return summarize(self.samples, self.decisions, events, self.slo_ratio)


def replica_minutes(samples: list[dict[str, Any]], key: str) -> float:
    """∫ replicas dt in minutes, each sample's value held until the next sample."""
    total = 0.0
    for here, after in itertools.pairwise(samples):
        value = here.get(key)
        if value is not None:
            total += value * (after["t"] - here["t"])
    return total / 60.0


def summarize(
    samples: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    events: list[dict[str, Any]],
    slo_ratio: float,
) -> dict[str, Any]:
    """The exit summary; `tests/e2e/test_demo.py` recomputes it from the recorded history."""
    scale_events = [e for e in events if e["reason"] in ("ScaledUp", "ScaledDown")]
    by_learner = [
        e for e in scale_events if "(explore," in e["message"] or "(exploit," in e["message"]
    ]
    judged = [d for d in decisions if d.get("utilization") is not None]
    return {
        "learner_first_acted_minutes": learner_first_acted_minutes(decisions),
        "minutes": round((samples[-1]["t"] - samples[0]["t"]) / 60.0, 3) if samples else 0.0,
        "replica_minutes": round(replica_minutes(samples, "replicas"), 3),
        "hpa_replica_minutes": round(replica_minutes(samples, "hpa"), 3),
        "evaluations": len(decisions),
        "learner_decisions": sum(1 for d in decisions if d["acting"] == "learner"),
        "slo_violations": sum(1 for d in judged if d["utilization"] > slo_ratio),
        "judged_evaluations": len(judged),
        "scale_events": len(scale_events),
        "scale_ups": sum(1 for e in scale_events if e["reason"] == "ScaledUp"),
        "scale_downs": sum(1 for e in scale_events if e["reason"] == "ScaledDown"),
        "learner_scale_events": len(by_learner),
    }


def _when(decision: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(str(decision["time"]).replace("Z", "+00:00"))


def learner_first_acted_minutes(decisions: list[dict[str, Any]]) -> float | None:
    """Minutes from the first evaluation to the first decision the learner made (by the
    decisions' own times in status); None while it has not acted."""
    first = next((d for d in decisions if d["acting"] == "learner"), None)
    if first is None:
        return None
    return round((_when(first) - _when(decisions[0])).total_seconds() / 60.0, 2)


def summary_text(summary: dict[str, Any], slo_ratio: float) -> str:
    hpa, ours = summary["hpa_replica_minutes"], summary["replica_minutes"]
    if hpa:
        change = (ours - hpa) / hpa
        versus = f"{abs(change):.1%} {'fewer' if change < 0 else 'more'} than the HPA formula's"
    else:
        versus = "no HPA recommendation recorded"
    first = summary["learner_first_acted_minutes"]
    took_over = (
        "it has not acted yet (still behind the HPA formula, in its shadow)"
        if first is None
        else f"it first acted {first:.1f} minutes after the first evaluation"
    )
    return "\n".join(
        [
            f"summary of {summary['minutes']:.1f} minutes ({summary['evaluations']} evaluations, "
            f"the learner acting in {summary['learner_decisions']}):",
            f"  replica-minutes  {ours:.1f}, {versus} recommendations ({hpa:.1f})",
            f"  SLO violations   {summary['slo_violations']} of "
            f"{summary['judged_evaluations']} evaluations above {slo_ratio:g} × target",
            f"  scale events     {summary['scale_events']} ({summary['scale_ups']} up, "
            f"{summary['scale_downs']} down; {summary['learner_scale_events']} by the learner)",
            f"  the learner      {took_over}",
        ]
    )


_LEARNER_WOULD = re.compile(r"the learner would [^;]*?→ (\d+)")


def learner_replicas(decision: dict[str, Any], acting: str | None) -> int | None:
    """What the learner chose at this evaluation: the decision when it acts, else the choice
    the reasoning reports it would have made (None before it has a table to choose from)."""
    if acting == "learner" or decision.get("mode") in ("explore", "exploit"):
        return int(decision["toReplicas"])
    found = _LEARNER_WOULD.search(str(decision.get("reasoning", "")))
    return int(found.group(1)) if found else None


def _decided_by(decision: dict[str, Any], status: dict[str, Any]) -> str:
    """Who made this decision: status.acting is who acts *now*, and the evaluation that
    promotes the learner was still decided by the HPA formula."""
    mode = decision.get("mode")
    if mode in ("explore", "exploit"):
        return "learner"
    if mode == "baseline":
        return "hpa"
    return str(status.get("acting") or DASH)  # a cooldown or a fallback: whoever acts now


def decision_record(policy: dict[str, Any], clock: str, demand: float) -> dict[str, Any] | None:
    """The policy's last decision as the log shows it; None before the first one."""
    status = policy.get("status") or {}
    decision = status.get("lastDecision")
    if not decision:
        return None
    metrics = status.get("metrics") or {}
    return {
        "time": decision["time"],
        "clock": clock,
        "demand": round(demand, 2),
        "acting": _decided_by(decision, status),
        "phase": status.get("phase") or DASH,
        "action": decision["action"],
        "mode": decision["mode"],
        "from": decision["fromReplicas"],
        "to": decision["toReplicas"],
        "hpa": decision.get("baselineReplicas"),
        "learner": learner_replicas(decision, _decided_by(decision, status)),
        "confidence": decision.get("confidence", 1.0),
        "utilization": metrics.get("lastUtilization"),
        "metric": status.get("metricSummary") or DASH,
        "reasoning": " ".join(str(decision.get("reasoning", "")).split()),
        "windows_beaten": (status.get("learning") or {}).get("windowsBeaten"),
        "shadow_reward": (status.get("learning") or {}).get("shadowReward"),
        "baseline_reward": (status.get("learning") or {}).get("baselineReward"),
    }


def one_line(record: dict[str, Any]) -> str:
    """One log line per decision (non-interactive output: CI, pipes); never prints None."""
    arrow = f"{record['from']}→{record['to']}"
    return (
        f"{record['clock']}  load {record['demand']:5.1f}  metric {record['metric']:<11} "
        f"acting {record['acting']:<7} {record['mode']:<8} {arrow:<7} "
        f"learner {_or_dash(record['learner']):>3}  HPA {_or_dash(record['hpa']):>3}  "
        f"phase {record['phase']:<8} | "
        f"{textwrap.shorten(record['reasoning'], 200, placeholder=' …')}"
    )


def handover_line(policy: dict[str, Any], before: str | None) -> str | None:
    """A log line when who acts is first known and when it changes (promotion or demotion),
    with the condition's why."""
    status = policy.get("status") or {}
    now = status.get("acting")
    if now is None or now == before:
        return None
    why = _condition(status, "BaselineBeaten")
    because = f"{why.get('reason')}: {why.get('message', '')}" if why else DASH
    return f"==> {'now acting' if before else 'acting'}: {now} ({because})"


def render(
    *,
    clock: str,
    demand: float,
    target_utilization: float,
    policy: dict[str, Any],
    replicas: int,
    ready: int,
    summary: dict[str, Any],
    promotion: str,
    warm_start: str,
    width: int | None = None,
) -> str:
    """One screen (pure; the caller prints it)."""
    width = width or min(shutil.get_terminal_size((100, 30)).columns, 120)
    status = policy.get("status") or {}
    decision = status.get("lastDecision") or {}
    learning = status.get("learning") or {}
    acting = status.get("acting")
    utilization = demand / ready if ready else float("inf")
    carried = _condition(status, "BaselineBeaten").get("reason") == "PromotionCarriedOver"
    who = {
        "learner": "the LEARNER ("
        + ("promotion carried over from the warm start" if carried else "promoted here")
        + "), through the shield",
        "hpa": f"the HPA formula; the learner learns in its shadow ({promotion})",
    }.get(acting or "", f"nobody yet (phase {status.get('phase') or 'starting'})")
    lines = [
        f"NimbusGuard demo — {clock} of the Alibaba 2018 trace    (Ctrl-C stops and cleans up)",
        f"  warm start   {warm_start}",
        "",
        f"  load         {demand:5.1f} cores   utilization {utilization:4.2f} per replica "
        f"(target {target_utilization:.2f})   metric {status.get('metricSummary') or DASH}",
        f"  target       member/demo/shop: {replicas} replicas, {ready} ready",
        f"  acting       {who}",
    ]
    if learning:
        lines.append(
            f"  learner      epsilon {learning.get('epsilon', 0):.3f}, "
            f"{learning.get('updates', 0)} updates, {learning.get('statesVisited', 0)} states, "
            f"windows beaten {learning.get('windowsBeaten', 0)}"
        )
    beaten = _condition(status, "BaselineBeaten")
    if acting == "learner" and beaten:
        lines.append(f"  promoted     {beaten.get('message', '')}")
    if decision:
        hpa = decision.get("baselineReplicas")
        mine = learner_replicas(decision, _decided_by(decision, status))
        lines.append(
            f"  decision     {decision.get('action')} {decision.get('fromReplicas')} → "
            f"{decision.get('toReplicas')} by {decision.get('mode')} "
            f"(confidence {decision.get('confidence', 0):.2f})"
        )
        lines.append(
            f"  side by side learner {_or_dash(mine)} replicas, "
            f"HPA formula {_or_dash(hpa)} replicas"
        )
        wrapped = textwrap.wrap(decision.get("reasoning", ""), width=max(40, width - 15))
        lines += [f"  {'reasoning' if i == 0 else '':<12} {w}" for i, w in enumerate(wrapped[:4])]
    ready_cond = _condition(status, "Ready")
    if ready_cond:
        lines.append(f"  ready        {ready_cond['status']}: {ready_cond.get('message', '')}")
    lines += [
        "",
        f"  so far       {summary['replica_minutes']:.1f} replica-minutes (HPA formula "
        f"{summary['hpa_replica_minutes']:.1f}), {summary['slo_violations']} SLO violations in "
        f"{summary['judged_evaluations']} evaluations, {summary['learner_decisions']} decided "
        "by the learner",
    ]
    return "\n".join(lines)

"""Status is written when it says something new, else once a minute; the essence of the last
write is kept, not rebuilt on every evaluation."""

from __future__ import annotations

import pytest

from controllers import evaluation
from tests.unit.controllers import harness


async def test_nothing_new_is_written_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    w = harness.world(monkeypatch)
    w.metric.utilization = 1.0  # at target: every evaluation holds
    await w.adopt()
    await w.evaluate()
    await w.evaluate()  # the first two say new things (phase, first decision)
    settled = len(w.hub.writes)
    essences: list[object] = []
    build = evaluation._essence

    def counting(status: object) -> object:
        essences.append(status)
        return build(status)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "_essence", counting)
    for _ in range(3):
        w.clock.now += 15
        await w.evaluate()
    assert len(w.hub.writes) == settled  # counters and times only: remembered, not written
    assert len(essences) == 3  # one per evaluation: the written one's is kept

    w.clock.now += evaluation.STATUS_REFRESH_SECONDS
    await w.evaluate()
    assert len(w.hub.writes) == settled + 1

    w.metric.utilization = None  # the metric fails: a new condition, written at once
    w.clock.now += 15
    await w.evaluate()
    assert len(w.hub.writes) == settled + 2


def _status(**changes: object) -> object:
    from api.v1 import scalingpolicy_types as types

    base: dict[str, object] = {
        "phase": "Learning",
        "currentReplicas": 2,
        "readyReplicas": 2,
        "targetReplicas": 2,
        "lastDecision": {
            "action": "hold",
            "mode": "baseline",
            "fromReplicas": 2,
            "toReplicas": 2,
            "confidence": 0.5,
            "reasoning": "at target",
            "time": "2026-12-02T10:00:00Z",
        },
        "learning": {
            "epsilon": 0.5,
            "updates": 10,
            "qTableConfigMap": "ops/nimbusguard-qtable-u",
            "lastPersistTime": "2026-12-02T10:00:00Z",
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Evaluated",
                "message": "fine",
                "lastTransitionTime": "2026-12-02T10:00:00Z",
            }
        ],
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return types.ScalingPolicyStatus.model_validate(base)


@pytest.mark.parametrize(
    "routine",
    [
        {"learning": {"lastPersistTime": "2026-12-02T10:05:00Z", "updates": 30}},
        {"readyReplicas": 1},
        {"targetReplicas": 3},
        {"lastDecision": {"reasoning": "still at target", "time": "2026-12-02T10:00:15Z"}},
        {"lastDecision": {"toReplicas": 3, "confidence": 0.9}},
        {"lastDecision": {"mode": "explore"}},
        {"metricSummary": "1.1/1"},
    ],
)
def test_routine_news_waits_for_the_next_write(routine: dict[str, object]) -> None:
    """A Q-table write, pods becoming ready, a decision's numbers: coalesced into the next
    write (at most a minute later), so that a policy costs at most one status write a minute
    in steady state (docs/benchmarks.md)."""
    assert evaluation._essence(_status(**routine)) == evaluation._essence(_status())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "news",
    [
        {"phase": "Active"},
        {"currentReplicas": 3},
        {"lastDecision": {"mode": "cooldown"}},
        {"lastDecision": {"action": "scale_up"}},
        {"lastDecision": {"mode": "fallback"}},
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ScaleFailed",
                    "message": "no",
                    "lastTransitionTime": "2026-12-02T10:00:00Z",
                }
            ]
        },
    ],
)
def test_news_is_written_at_once(news: dict[str, object]) -> None:
    assert evaluation._essence(_status(**news)) != evaluation._essence(_status())  # type: ignore[arg-type]

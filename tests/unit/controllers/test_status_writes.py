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

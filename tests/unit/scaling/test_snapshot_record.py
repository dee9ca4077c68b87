"""Nothing the learner measured is lost across a save and load: the rolling rates and rewards,
the re-promotion bias, the hand-back evidence, the HPA run alongside and the budget
controller's spent share go into the snapshot and come back; an older table still loads and
says what starts fresh; a crafted record is refused."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np
import pytest

from nimbusguard.scaling import evaluation, hpa, learner, promotion, qtable
from nimbusguard.scaling.observation import Observation
from nimbusguard.simulator import loop

NO_COOLDOWN = loop.Cooldowns()
HPA = hpa.HPAConfig(min_replicas=1, max_replicas=40)


def _config() -> learner.LearnerConfig:
    return learner.LearnerConfig(min_replicas=1, max_replicas=40, interval_seconds=30.0)


def _run(brain: learner.QLearner, baseline: hpa.HPABaseline, start: int, n: int) -> int:
    """n evaluations of a wavy load through the shared evaluation step; the target follows."""
    replicas = 10
    for i in range(start, start + n):
        load = 8.0 + 3.0 * np.sin(i / 15.0) + (0.8 if i % 7 == 0 else 0.0)
        obs = Observation(
            time=30.0 * i, replicas=replicas, ready_replicas=replicas, utilization=load / replicas
        )
        step = evaluation.decide(obs, baseline, brain, NO_COOLDOWN, None)
        brain.learn(obs)
        if step.replicas != replicas:
            evaluation.record((baseline,), obs.time, replicas, step.replicas)
            replicas = step.replicas
    return replicas


def _acting_learner() -> tuple[learner.QLearner, hpa.HPABaseline]:
    brain = learner.QLearner(_config(), np.random.default_rng(0))
    baseline = hpa.HPABaseline(HPA)
    _run(brain, baseline, 0, 120)
    brain.promotion.phase = promotion.ACTIVE
    _run(brain, baseline, 120, 90)
    brain.promotion.bias = 1.04  # as after a hand-back
    return brain, baseline


def test_everything_measured_comes_back_after_a_round_trip() -> None:
    brain, _ = _acting_learner()
    tracker = brain.promotion
    assert tracker.acting > 0 and brain.shadow is not None and brain.realized_violations >= 0
    record = brain.record()
    back = learner.QLearner.from_bytes(brain.to_bytes(), _config(), np.random.default_rng(1))
    assert back.fresh_note is None
    assert back.record() == json.loads(json.dumps(record))
    assert back.promotion.state() == tracker.state()
    assert (back.promotion.acting, back.promotion.bias) == (tracker.acting, 1.04)
    assert back.promotion.learner_rolling == tracker.learner_rolling
    assert (back.realized_violations, back._realized_count) == (
        brain.realized_violations,
        brain._realized_count,
    )
    # The HPA alongside continues its own trajectory, not one started from the learner's count.
    assert _trajectory(back) is None
    baseline = hpa.HPABaseline(HPA)
    obs = Observation(time=30.0 * 210, replicas=25, ready_replicas=25, utilization=0.4)
    back.prepare_shadow(baseline, obs, None)
    resumed, original = _trajectory(back), _trajectory(brain)
    assert resumed is not None and original is not None
    assert resumed["replicas"] == original["replicas"] != 25
    assert resumed == json.loads(json.dumps(original))


def _trajectory(brain: learner.QLearner) -> dict[str, Any] | None:
    return None if brain.shadow is None else brain.shadow.state()


def test_a_warm_start_takes_the_table_but_not_the_training_workloads_record() -> None:
    brain, _ = _acting_learner()
    blob = brain.to_bytes()
    fresh = learner.QLearner(_config(), np.random.default_rng(1)).record()
    warm = learner.QLearner.from_bytes(blob, _config(), np.random.default_rng(1), warm_start=True)
    assert warm.phase == "Learning" and warm.decisions == brain.decisions
    assert warm.record() == fresh
    assert warm.fresh_note is not None and "not this policy's" in warm.fresh_note
    carried = learner.QLearner.from_bytes(
        blob, _config(), np.random.default_rng(1), warm_start=True, carry_promotion=True
    )
    assert carried.phase == "Active" and carried.record() == fresh


def _rewrite(blob: bytes, change: Any) -> bytes:
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def _as_version_2(meta: dict[str, Any]) -> None:
    meta["schema"] = 2
    del meta["learner"]


def test_a_version_2_table_loads_its_table_and_says_what_starts_fresh() -> None:
    brain, _ = _acting_learner()
    old = _rewrite(brain.to_bytes(), _as_version_2)
    back = learner.QLearner.from_bytes(old, _config(), np.random.default_rng(1))
    np.testing.assert_array_equal(back.table.q, brain.table.q)
    assert (back.decisions, back.phase, back.slo_price) == (
        brain.decisions,
        "Active",
        brain.slo_price,
    )
    fresh = learner.QLearner(_config(), np.random.default_rng(1))
    assert back.promotion.state() == fresh.promotion.state()
    assert back.fresh_note is not None
    assert "version-2" in back.fresh_note and "start fresh" in back.fresh_note
    # Written again, it is a version-3 table with its record.
    again = learner.QLearner.from_bytes(back.to_bytes(), _config(), np.random.default_rng(1))
    assert again.fresh_note is None


def _set(path: tuple[str, ...], value: Any) -> Any:
    def change(meta: dict[str, Any]) -> None:
        node = meta["learner"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(learner=None), "no learner record"),
        (lambda m: m.update(schema=1), "schema version 1 is incompatible"),
        (_set(("promotion", "bias"), 0.5), "bias"),
        (_set(("promotion", "learner_violations"), 2.0), "learner_violations"),
        (_set(("promotion", "acting"), -3), "acting"),
        (_set(("promotion", "real_cost"), float("inf")), "real_cost"),
        (_set(("promotion", "window"), [0.0, 0.0]), "window"),
        (_set(("budget", "realized"), "high"), "realized"),
        (_set(("reference", "level"), -1.0), "reference"),
        (_set(("shadow", "pending"), [0.0] * 50), "starting replicas"),
        (_set(("shadow", "ready"), 10**9), "out of range"),
        (_set(("shadow", "hpa", "history"), [[0.0, 1]] * (hpa.MAX_EVENTS + 1)), "history"),
        (_set(("shadow", "hpa", "ups"), [["t", 1]]), "ups"),
    ],
)
def test_a_crafted_learner_record_is_refused(change: Any, message: str) -> None:
    brain, _ = _acting_learner()
    bad = _rewrite(brain.to_bytes(), change)
    with pytest.raises(qtable.QTableError, match=message):
        learner.QLearner.from_bytes(bad, _config(), np.random.default_rng(1))


def test_a_restored_window_in_progress_fits_a_smaller_window() -> None:
    brain, _ = _acting_learner()
    brain.promotion._count = 15
    smaller = dataclasses.replace(
        _config(), promotion=promotion.PromotionConfig(window_decisions=10)
    )
    back = learner.QLearner.from_bytes(brain.to_bytes(), smaller, np.random.default_rng(1))
    assert back.promotion._count == 9

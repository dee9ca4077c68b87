"""lastTransitionTime moves only when the status changes."""

from __future__ import annotations

import datetime

from controllers import conditions as cond

T0 = datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_transition_time_kept_while_status_is_unchanged() -> None:
    first = cond.apply([], [cond.Update("Ready", True, "A", "one")], now=T0, generation=1)
    again = cond.apply(first, [cond.Update("Ready", True, "B", "two")], now=T1, generation=2)
    (c,) = again
    assert c.last_transition_time == T0
    assert (c.reason, c.message, c.observed_generation) == ("B", "two", 2)


def test_transition_time_moves_on_change() -> None:
    first = cond.apply([], [cond.Update("Ready", True, "A")], now=T0, generation=1)
    (c,) = cond.apply(first, [cond.Update("Ready", False, "B")], now=T1, generation=1)
    assert (c.status, c.last_transition_time) == ("False", T1)


def test_unmentioned_conditions_are_kept_and_ready_comes_first() -> None:
    first = cond.apply([], [cond.Update("TargetFound", True, "Found")], now=T0, generation=1)
    both = cond.apply(first, [cond.Update("Ready", None, "Initializing")], now=T1, generation=1)
    assert [c.type for c in both] == ["Ready", "TargetFound"]
    assert both[0].status == "Unknown"
    assert cond.is_true(both, "TargetFound") and not cond.is_true(both, "Ready")

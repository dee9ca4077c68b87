"""Builders shared by the controller tests."""

from __future__ import annotations

from controllers import phases


def facts(**overrides: object) -> phases.Facts:
    """Facts of a healthy, unpaused, unconflicted Learning policy, with `overrides`."""
    base: dict[str, object] = {
        "paused": False,
        "target": "Deployment ns/web",
        "target_error": None,
        "conflict": None,
        "learner_active": False,
        "previous_phase": None,
        "evaluated": True,
    }
    base.update(overrides)
    return phases.Facts(**base)  # type: ignore[arg-type]

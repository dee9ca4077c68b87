"""A policy body is parsed once, not once per evaluation: the loop evaluates the same body
object until a watch event brings a new one."""

from __future__ import annotations

from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from tests.unit.controllers import harness


async def test_the_same_body_is_parsed_once_and_a_new_one_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    parsed: list[Any] = []
    validate = types.ScalingPolicy.model_validate

    def counting(data: Any, **kwargs: Any) -> types.ScalingPolicy:
        parsed.append(data)
        return validate(data, **kwargs)

    monkeypatch.setattr(types.ScalingPolicy, "model_validate", counting)
    body = w.policy_body()

    for _ in range(3):
        await w.rec.evaluate(body, lambda _: [])
    assert len(parsed) == 1

    fresh = w.policy_body()  # the watch delivered our status write back
    await w.rec.evaluate(fresh, lambda _: [])
    await w.rec.evaluate(fresh, lambda _: [])
    assert len(parsed) == 2
    remembered = w.rec._memory[harness.UID].parsed
    assert remembered is not None and remembered[0] is fresh


async def test_the_kept_body_has_no_managed_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """managedFields (about half of a policy's body) is dropped from what is kept between
    watch events; the rest of the body, and the kopf body itself, are left as they were."""
    w = harness.world(monkeypatch)
    body = w.policy_body()
    managed = [{"manager": "nimbusguard", "fieldsV1": {"f:status": {"f:phase": {}}}}]
    body["metadata"]["managedFields"] = managed
    w.rec.first_delay = lambda interval, uid: 3600.0  # type: ignore[method-assign]
    await w.rec.observe(body, lambda _: [])
    kept = w.rec._memory[harness.UID].body
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["uid"] == harness.UID and kept["spec"] == body["spec"]
    assert body["metadata"]["managedFields"] is managed  # the watch's own copy is untouched
    await w.rec.stop(1.0)

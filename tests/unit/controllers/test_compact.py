"""Kept models share their field sets and stay what they were."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pydantic

from api.v1 import scalingpolicy_types as types
from benchmarks import policy_memory
from controllers import compact


def _models(value: Any) -> list[pydantic.BaseModel]:
    if isinstance(value, pydantic.BaseModel):
        return [value, *(m for v in value.__dict__.values() for m in _models(v))]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _models(v)]
    return []


def _parse(index: int) -> types.ScalingPolicy:
    return types.ScalingPolicy.model_validate(policy_memory.body(index))


def test_two_policies_of_one_shape_share_every_field_set_and_dump_as_before() -> None:
    body = policy_memory.body(2)
    a, b = types.ScalingPolicy.model_validate(body), _parse(4)  # even: both in the hub
    dumped = (a.to_json_dict(), b.to_json_dict())
    sets = [m.model_fields_set for m in _models(a)]
    assert compact.shared(a) is a and compact.shared(b) is b
    assert (a.to_json_dict(), b.to_json_dict()) == dumped
    assert [m.model_fields_set for m in _models(a)] == sets  # same contents
    pairs = list(zip(_models(a), _models(b), strict=True))
    assert len(pairs) > 10
    assert all(x.__pydantic_fields_set__ is y.__pydantic_fields_set__ for x, y in pairs)
    assert a == types.ScalingPolicy.model_validate(body)


def test_a_copy_with_updates_leaves_the_shared_sets_alone() -> None:
    a, b = compact.shared(_parse(3)), compact.shared(_parse(4))
    assert a.status is not None and b.status is not None
    before = set(b.status.model_fields_set)
    copied = a.status.model_copy(update={"acting": "learner", "metric_summary": "1/2"})
    assert copied.acting == "learner"
    assert b.status.model_fields_set == before
    assert a.status.model_fields_set == before


def test_shared_models_take_less_memory() -> None:
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        plain = [_parse(i) for i in range(20)]
        middle = tracemalloc.get_traced_memory()[0]
        kept = [compact.shared(_parse(i)) for i in range(20, 40)]
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(plain) == len(kept)
    assert end - middle < 0.7 * (middle - start)

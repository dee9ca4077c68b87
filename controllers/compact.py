"""Smaller models for what is kept per policy between evaluations (docs/scaling.md, "Memory").

pydantic gives every model instance a set of the fields its input named
(`__pydantic_fields_set__`): a set of five or more names takes 728 bytes, more than most
models' own data, and a policy's parsed model and statuses are 20-odd models each (9 KB of a
16 KB ScalingPolicy). Models kept for a long time share one such set per distinct content.

Nothing here reads those sets (no `exclude_unset`, no `model_fields_set`); pydantic copies the
set before changing it in `model_copy`, and assigning a field that is already in it changes
nothing; the kept models are never assigned to in place.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

_SHARED: dict[frozenset[str], set[str]] = {}
# Bounded by the API's optional fields in practice; a bound keeps it so whatever comes in.
_MAX_SHARED = 4096

M = TypeVar("M", bound=pydantic.BaseModel)


def shared(model: M) -> M:
    """`model`, with it and every model inside it on shared field sets; returns it."""
    _share(model)
    return model


def _share(value: Any) -> None:
    if isinstance(value, pydantic.BaseModel):
        names = value.__pydantic_fields_set__
        key = frozenset(names)
        common = _SHARED.get(key)
        if common is names:
            # Shared already, so walked already, its parts too: only this walk shares sets, and
            # kept models are not changed in place. A new status reuses most of the previous
            # one's parts (conditions, decision, learning); they are not walked again.
            return
        if common is None and len(_SHARED) < _MAX_SHARED:
            common = _SHARED[key] = names
        if common is not None and common is not names:
            object.__setattr__(value, "__pydantic_fields_set__", common)
        for item in value.__dict__.values():
            _share(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _share(item)

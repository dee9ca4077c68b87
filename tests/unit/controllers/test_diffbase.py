"""The slim diff-base gives kopf the same essence without copying .status."""

from __future__ import annotations

import copy
from typing import Any

import kopf

from api.v1 import groupversion_info as gv
from controllers import diffbase, handlers
from nimbusguard.clients import policies

BODY: dict[str, Any] = {
    "apiVersion": "nimbusguard.io/v1",
    "kind": "ScalingPolicy",
    "metadata": {
        "name": "web",
        "namespace": "ns",
        "uid": "u1",
        "labels": {"team": "a"},
        "managedFields": [{"manager": "nimbusguard", "fieldsV1": {"f:status": {}}}] * 20,
        "annotations": {"note": "x", f"{gv.GROUP}/last-handled-configuration": "{}"},
    },
    "spec": {"target": {"name": "web"}, "scaling": {"minReplicas": 1, "maxReplicas": 5}},
    "status": {"phase": "Learning", "conditions": [{"type": "Ready", "status": "True"}] * 20},
}


def storages() -> tuple[kopf.AnnotationsDiffBaseStorage, diffbase.SpecDiffBaseStorage]:
    key = "last-handled-configuration"
    return (
        kopf.AnnotationsDiffBaseStorage(prefix=gv.GROUP, key=key),
        diffbase.SpecDiffBaseStorage(prefix=gv.GROUP, key=key),
    )


def test_the_essence_is_kopfs_own_without_status() -> None:
    original, slim = storages()
    body = kopf.Body(copy.deepcopy(BODY))  # type: ignore[arg-type]

    essence = slim.build(body=body)

    assert essence == original.build(body=body)
    assert "status" not in essence
    assert essence["spec"] == BODY["spec"]


def test_the_status_is_never_copied_and_the_body_never_changed(monkeypatch: Any) -> None:
    copied: list[Any] = []
    real = copy.deepcopy

    def spy(value: Any, memo: Any = None) -> Any:
        copied.append(value)
        return real(value, memo)

    _, slim = storages()
    body = kopf.Body(copy.deepcopy(BODY))  # type: ignore[arg-type]
    monkeypatch.setattr(copy, "deepcopy", spy)

    slim.build(body=body)

    assert not any(isinstance(v, dict) and "phase" in v for v in copied)
    assert not any(isinstance(v, dict) and "status" in v for v in copied)
    assert not any(isinstance(v, dict) and "managedFields" in v for v in copied)
    assert body["status"]["phase"] == "Learning"


def test_without_change_tracking_no_essence_is_built(monkeypatch: Any) -> None:
    copied: list[Any] = []
    monkeypatch.setattr(copy, "deepcopy", lambda value, memo=None: copied.append(value))
    untracked = diffbase.SpecDiffBaseStorage(
        prefix=gv.GROUP, key="last-handled-configuration", tracked=False
    )

    assert untracked.build(body=kopf.Body(BODY)) == {}  # type: ignore[arg-type]
    assert copied == []


def test_the_operator_tracks_changes_only_when_a_handler_needs_them() -> None:
    registry = handlers.build_registry()  # event and index handlers only
    storage = handlers.settings(registry).persistence.diffbase_storage
    assert isinstance(storage, diffbase.SpecDiffBaseStorage) and not storage.tracked

    @kopf.on.update(*handlers.RESOURCE, registry=registry)
    async def changed(**_: Any) -> None: ...

    storage = handlers.settings(registry).persistence.diffbase_storage
    assert isinstance(storage, diffbase.SpecDiffBaseStorage) and storage.tracked


def test_listings_come_in_pages() -> None:
    """A relist of a thousand policies is never decoded and held at once."""
    registry = handlers.build_registry()
    # The same page size as the sweep's LIST of uids.
    assert handlers.settings(registry).watching.chunk_size == policies.LIST_PAGE

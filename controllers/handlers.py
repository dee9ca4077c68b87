"""kopf handlers for ScalingPolicy: thin, they hand the body to the Reconciler in `memo`.

- an index of which policies name which target (for "one autoscaler per target"); kopf fills
  indices before any handler runs, so no policy acts before it knows its rivals;
- an event handler that sees every watch event (the initial listing included): it starts a
  policy's evaluation loop on first sight, keeps the newest body for the loop, wakes it when
  the spec changed (a new generation) so a change takes effect at once, and stops it when
  the policy is deleted.

Only event and index handlers, on purpose: kopf's change-detecting handlers (create, update,
resume) record their progress in annotations, which would need `patch` on every policy in
every namespace. With none, the operator never writes a policy, only its status.

The periodic evaluation is the reconciler's own loop per policy, at the policy's own interval,
not a kopf timer or daemon: kopf puts a finalizer on every object that has one, and a finalizer
outlives the operator — uninstall it and policies, and their namespaces, can never be deleted.
Nothing has to happen before a policy goes away (the target keeps its replicas, the Q-table's
ConfigMap is garbage-collected through its owner reference), so no finalizer is needed.
"""

from __future__ import annotations

from typing import Any

import kopf

from api.v1 import groupversion_info as gv
from controllers import claims as claims_, diffbase, reconciler as reconciler_
from nimbusguard.clients import policies

RESOURCE = (gv.GROUP, gv.VERSION, gv.PLURAL)


def _claims(kwargs: dict[str, Any]) -> claims_.Claims:
    """Who claims a target, from the index kopf passes as a kwarg named after its id."""
    index: kopf.Index[claims_.TargetKey, claims_.Claim] = kwargs["policy_targets"]

    def claims(key: claims_.TargetKey) -> list[claims_.Claim]:
        return list(index.get(key, []))

    return claims


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.index(*RESOURCE, id="policy_targets", registry=registry)
    async def policy_targets(
        *, namespace: str | None, spec: kopf.Spec, meta: kopf.Meta, name: str, uid: str, **_: Any
    ) -> dict[claims_.TargetKey, claims_.Claim]:
        ns = namespace or "default"
        key = claims_.target_key(ns, dict(spec))
        return {key: claims_.Claim(str(meta.get("creationTimestamp") or ""), ns, name, uid)}

    @kopf.on.event(*RESOURCE, id="observe", registry=registry)
    async def observe(*, event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        reconciler: reconciler_.Reconciler = memo["reconciler"]
        if event.get("type") == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
            await reconciler.forget(body)
        else:
            await reconciler.observe(body, _claims(kwargs))

    return registry


def settings(registry: kopf.OperatorRegistry) -> kopf.OperatorSettings:
    """kopf settings: our annotations prefix, status left to us, no noise."""
    s = kopf.OperatorSettings()
    # Nothing of kopf's progress or diff-base is needed for event handlers; should kopf
    # ever store any, it goes to annotations (a structural schema would prune .status.kopf).
    s.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=gv.GROUP)
    # The essence (what changed since last handled) is only read by change-detecting and
    # daemon/timer handlers: without them, kopf need not build it for every watch event.
    tracked = bool(registry._changing.get_all_handlers() or registry._spawning.get_all_handlers())
    s.persistence.diffbase_storage = diffbase.SpecDiffBaseStorage(
        prefix=gv.GROUP, key="last-handled-configuration", tracked=tracked
    )
    s.persistence.finalizer = f"{gv.GROUP}/finalizer"
    # Our own Events say what happened; kopf's "handler succeeded" events would be noise.
    s.posting.level = 40  # logging.ERROR
    # Stalled watches are the classic kopf failure; restart them if silent.
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.watching.connect_timeout = 10
    # The initial listing (and every relist) in pages: kopf hands each page's objects out
    # before it reads the next, so a thousand full bodies (about 16 MB of JSON) are never
    # decoded and held at once (docs/scaling.md, "Memory").
    s.watching.chunk_size = policies.LIST_PAGE
    s.networking.request_timeout = 30
    s.networking.connect_timeout = 10
    return s

"""kopf handlers for ScalingPolicy: thin, they hand the body to the Reconciler in `memo`.

- an index of which policies name which target (for "one autoscaler per target"); kopf fills
  indices before any handler runs, so no policy acts before it knows its rivals;
- create / spec update / resume: adopt the policy and wake its daemon;
- one daemon per policy: evaluates at the policy's own interval (timers have one fixed
  interval per handler, policies do not);
- delete: forget the policy; the target keeps its replicas.
"""

from __future__ import annotations

import random
from typing import Any

import kopf

from api.v1 import groupversion_info as gv
from controllers import reconciler as reconciler_

RESOURCE = (gv.GROUP, gv.VERSION, gv.PLURAL)


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.index(*RESOURCE, id="policy_targets", registry=registry)
    async def policy_targets(
        *, namespace: str | None, spec: kopf.Spec, meta: kopf.Meta, name: str, uid: str, **_: Any
    ) -> dict[reconciler_.TargetKey, reconciler_.Claim]:
        ns = namespace or "default"
        key = reconciler_.target_key(ns, dict(spec))
        return {key: (str(meta.get("creationTimestamp") or ""), ns, name, uid)}

    @kopf.on.resume(*RESOURCE, id="adopt", registry=registry)
    @kopf.on.create(*RESOURCE, id="adopt", registry=registry)
    @kopf.on.update(*RESOURCE, id="adopt", field="spec", registry=registry)
    async def changed(*, body: kopf.Body, reason: str, memo: Any, **_: Any) -> None:
        await memo["reconciler"].on_change(body, reason)

    # Spread the first evaluations of many policies after a restart.
    def _jitter(**_: Any) -> float:
        return random.uniform(0.0, 1.0)  # noqa: S311 (not security-relevant)

    @kopf.daemon(
        *RESOURCE,
        id="evaluate",
        registry=registry,
        initial_delay=_jitter,
        cancellation_timeout=10.0,
    )
    async def evaluate(
        *, body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **kwargs: Any
    ) -> None:
        # kopf passes each index as a kwarg named after its id.
        index: kopf.Index[reconciler_.TargetKey, reconciler_.Claim] = kwargs["policy_targets"]

        def claims(key: reconciler_.TargetKey) -> list[reconciler_.Claim]:
            return list(index.get(key, []))

        await memo["reconciler"].run(body, stopped, claims)

    @kopf.on.delete(*RESOURCE, id="forget", registry=registry)
    async def deleted(*, body: kopf.Body, memo: Any, **_: Any) -> None:
        await memo["reconciler"].forget(body)

    return registry


def settings() -> kopf.OperatorSettings:
    """kopf settings: our annotations, our finalizer, status left to us."""
    s = kopf.OperatorSettings()
    # kopf's default keeps handler progress in .status.kopf too; the structural schema would
    # prune it and kopf would re-run handlers forever. Annotations only.
    s.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=gv.GROUP)
    s.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=gv.GROUP, key="last-handled-configuration"
    )
    s.persistence.finalizer = f"{gv.GROUP}/finalizer"
    # Our own Events say what happened; kopf's "handler succeeded" events would be noise.
    s.posting.level = 40  # logging.ERROR
    # Stalled watches are the classic kopf failure; restart them if silent.
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.watching.connect_timeout = 10
    s.networking.request_timeout = 30
    s.networking.connect_timeout = 10
    return s

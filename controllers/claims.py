"""Target ownership: which policy may scale a target (one autoscaler per target).

Two rivals are checked before every evaluation:

- other ScalingPolicies naming the same target (kopf's index `policy_targets`): the oldest
  claim wins, ties broken by namespace/name. Claims of policies known to be gone do not count:
  kopf's index is never purged of objects a watch relist did not report as deleted.
- HorizontalPodAutoscalers on the target (listed per namespace, cached briefly). This check
  fails closed: when HPAs cannot be listed, the policy does not act (Conflict Unknown).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import errors, workloads

HPA_CACHE_SECONDS = 30.0


class TargetKey(NamedTuple):
    """A target, as kopf's index keys it."""

    cluster: str  # "" for the hub
    namespace: str
    kind: str
    name: str


class Claim(NamedTuple):
    """A policy naming a target."""

    created: str  # creationTimestamp
    namespace: str
    name: str
    uid: str


Claims = Callable[[TargetKey], list[Claim]]


def target_key(namespace: str, spec: Mapping[str, Any]) -> TargetKey:
    target = spec.get("target") or {}
    cluster = target.get("cluster") or ""
    ns = (target.get("namespace") or namespace) if cluster else namespace
    return TargetKey(cluster, ns, target.get("kind") or "Deployment", target.get("name") or "")


def first_claim(claims: Iterable[Claim]) -> Claim | None:
    """The policy that owns a target: the oldest, ties broken by namespace/name."""
    return min(claims, default=None)


class Ownership:
    """Conflict checks of one operator, with the HPA cache and the uids known to be gone."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # Per (cluster, namespace): when listed, and every HPA's target there.
        self._hpas: dict[tuple[str, str], tuple[float, list[workloads.HpaTarget]]] = {}
        self.vanished: set[str] = set()  # uids of policies known to be gone
        self.claimed: set[str] = set()  # uids seen claiming a target

    def gone(self, uid: str) -> None:
        self.vanished.add(uid)

    def seen(self, uid: str) -> None:
        self.vanished.discard(uid)

    def sweep(self, live: set[str]) -> None:
        """Every claimant not in `live` (a fresh LIST) is gone."""
        self.vanished |= self.claimed - live

    def conflict(self, policy: types.ScalingPolicy, claims: Claims) -> str | None:
        """Why another ScalingPolicy owns this policy's target, or None."""
        namespace = policy.metadata.namespace or "default"
        found = claims(target_key(namespace, policy.spec.model_dump(by_alias=True)))
        self.claimed.update(c.uid for c in map(Claim._make, found))
        owner = first_claim(Claim._make(c) for c in found if c[3] not in self.vanished)
        if owner is None or owner.uid == policy.metadata.uid:
            return None
        # Another tenant's policy is not named to this one.
        who = (
            f"ScalingPolicy {owner.namespace}/{owner.name}"
            if owner.namespace == namespace
            else "a ScalingPolicy of another namespace"
        )
        return f"{who} already scales this target (the oldest policy wins); this one will not act"

    async def hpa_conflict(
        self, api: Any, ref: workloads.TargetRef, log: logging.LoggerAdapter[logging.Logger]
    ) -> tuple[str | None, bool]:
        """(why an HPA owns the target, or None; whether that could be checked at all).

        Fails closed: when the HPAs cannot be listed, the policy does not act (Conflict
        Unknown) rather than fight an autoscaler it cannot see."""
        cache_key = (ref.cluster or "", ref.namespace)
        cached = self._hpas.get(cache_key)
        now = self._clock()
        if cached is None or now - cached[0] > HPA_CACHE_SECONDS:
            try:
                targets = await workloads.hpa_targets(api, ref.namespace, ref.cluster)
            except errors.ClientError as exc:
                log.info("could not list HorizontalPodAutoscalers: %s", exc)
                return (
                    f"cannot tell whether a HorizontalPodAutoscaler also scales "
                    f"{ref.describe()} (listing them failed: {exc.message}); not acting until "
                    "it can be checked",
                    False,
                )
            cached = (now, targets)
            self._hpas[cache_key] = cached
        hpas = workloads.competing_hpas(cached[1], ref)
        if not hpas:
            return None, True
        return (
            f"HorizontalPodAutoscaler {', '.join(hpas)} also scales {ref.describe()}; remove it "
            "or this policy",
            True,
        )

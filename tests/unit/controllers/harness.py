"""A Reconciler driven through whole evaluations with scripted I/O (no cluster).

The hub keeps one ScalingPolicy object with a resourceVersion and honours the preconditions
the API server honours (resourceVersion, metadata.uid); the target and the metric are faked;
the real workflow graph, status builder and phases run.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from benchmarks import policy_churn
from controllers import learning, reconciler
from nimbusguard.clients import errors, events, policies, sources, workloads

UID = "uid-0001-aaaa"


PROMETHEUS = {"prometheus": {"serverAddress": "http://prom:9090", "query": "x", "targetValue": 10}}


def body(metrics: dict[str, Any] | None = None, **scaling: Any) -> dict[str, Any]:
    spec_scaling = {"minReplicas": 1, "maxReplicas": 20, "cooldownPeriod": 60, **scaling}
    return {
        "apiVersion": "nimbusguard.io/v1",
        "kind": "ScalingPolicy",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "target": {"name": "web"},
            "scaling": spec_scaling,
            "metrics": metrics or {"cpu": {"targetUtilization": 50}},
        },
    }


class Hub:
    """The ScalingPolicy as the API server keeps it, with scripted write failures."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = copy.deepcopy(obj)
        self.obj.setdefault("status", {})
        self.version = int(self.obj["metadata"].get("resourceVersion") or 1)
        self.writes: list[dict[str, Any]] = []  # every accepted status patch
        self.history: list[str | None] = []  # status.lastScalingTime after every write
        # How many of the next writes without a resourceVersion precondition time out before
        # (fail) or after (lost answer) being applied.
        self.fail_unguarded = 0
        self.lose_unguarded = 0
        self.gone = False

    def live(self) -> dict[str, Any]:
        return copy.deepcopy(self.obj)

    async def get(self, api: Any, namespace: str, name: str) -> dict[str, Any]:
        if self.gone:
            raise errors.ApiError(404, "HTTP 404: not found")
        return self.live()

    async def patch_status(
        self,
        api: Any,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
        uid: str | None = None,
        answer: bool = True,
    ) -> dict[str, Any]:
        if self.gone:
            raise errors.ApiError(404, "HTTP 404: not found")
        if resource_version is None and self.fail_unguarded:
            self.fail_unguarded -= 1
            raise errors.ClusterUnreachableError("the hub cluster did not answer (TimeoutError)")
        if resource_version is not None and resource_version != str(self.version):
            raise errors.ApiError(409, "HTTP 409: the object has been modified")
        if uid is not None and uid != self.obj["metadata"]["uid"]:
            raise errors.ApiError(409, "HTTP 409: Precondition failed: UID")
        merged = self.obj["status"]
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = copy.deepcopy(value)
        self.version += 1
        self.obj["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append(copy.deepcopy(status))
        self.history.append(merged.get("lastScalingTime"))
        if resource_version is None and self.lose_unguarded:
            self.lose_unguarded -= 1
            raise errors.ClusterUnreachableError("the hub cluster did not answer (TimeoutError)")
        return self.live() if answer else {}


class Target:
    """The Deployment: replicas, and a log of scale calls (time, from, to)."""

    def __init__(self, replicas: int, clock: Callable[[], float]) -> None:
        self.replicas = replicas
        self.ready: int | None = None  # None: all ready
        self.clock = clock
        self.scales: list[tuple[float, int, int]] = []
        self.refuse: errors.ClientError | None = None

    async def read(self, api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
        ready = self.replicas if self.ready is None else self.ready
        return workloads.TargetState(self.replicas, ready, self.replicas, "app=web", True)

    async def scale(self, api: Any, ref: workloads.TargetRef, replicas: int) -> workloads.Scaled:
        if self.refuse is not None:
            raise self.refuse
        self.scales.append((self.clock(), self.replicas, replicas))
        self.replicas = replicas
        return workloads.Scaled(replicas, None)


@dataclasses.dataclass
class Metric:
    """Utilization relative to target; None = unavailable; an exception = raised as is."""

    utilization: float | BaseException | None = 2.0
    name: str = "cpu"

    async def read(self, target: workloads.TargetState) -> sources.Reading:
        value = self.utilization
        if isinstance(value, BaseException):
            raise value
        if value is None:
            raise errors.MetricError("returned 0 samples")
        return sources.Reading(self.name, value * 50, value, f"{value:.2f}× target")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class World:
    hub: Hub
    target: Target
    metric: Metric
    clock: Clock
    events: list[tuple[str, str, str]]
    rec: reconciler.Reconciler

    def policy_body(self) -> dict[str, Any]:
        """What the watch would deliver now."""
        return self.hub.live()

    async def evaluate(self) -> float:
        return await self.rec.evaluate(self.policy_body(), lambda _: [])

    async def adopt(self) -> None:
        """observe() without starting the loop task."""
        rec = self.rec
        policy = types.ScalingPolicy.model_validate(self.policy_body())
        memory = rec._remember(UID, policy)
        memory.body = self.policy_body()


def world(
    monkeypatch: pytest.MonkeyPatch,
    *,
    replicas: int = 2,
    obj: dict[str, Any] | None = None,
    rec_kwargs: dict[str, Any] | None = None,
    share: World | None = None,
) -> World:
    """A reconciler and its world; with `share`, a second instance on the same hub, target
    and clock (two overlapping operators)."""
    clock = share.clock if share else Clock()
    hub = share.hub if share else Hub(obj or body())
    target = share.target if share else Target(replicas, clock)
    metric = Metric()
    posted: list[tuple[str, str, str]] = []

    async def post(api: Any, obj: Any, *, type_: str, reason: str, message: str, **_: Any) -> None:
        posted.append((type_, reason, message))

    async def load(store: Any, policy: Any, rt: Any) -> learning.Loaded:
        rt.learner_ready = True
        return learning.Loaded(None)

    async def persist(*_: Any, **__: Any) -> bool:
        return False

    async def no_hpas(api: Any, namespace: str, cluster: str | None) -> list[Any]:
        return []

    monkeypatch.setattr(policies, "get", hub.get)
    monkeypatch.setattr(policies, "patch_status", hub.patch_status)
    monkeypatch.setattr(workloads, "read", target.read)
    monkeypatch.setattr(workloads, "scale", target.scale)
    monkeypatch.setattr(workloads, "hpa_targets", no_hpas)
    monkeypatch.setattr(events, "post", post)
    monkeypatch.setattr(learning, "load", load)
    monkeypatch.setattr(learning, "persist", persist)
    monkeypatch.setattr(learning, "discard", persist)

    rec = policy_churn.offline_reconciler(clock, "test", **(rec_kwargs or {}))
    monkeypatch.setattr(rec.evaluator, "sources", lambda *_, **__: [metric])
    return World(hub, target, metric, clock, posted, rec)

"""A fake scale target for workflow tests: the replicas a scale-up adds become ready two
evaluations later, so the workflow sees the pending capacity a real rollout has."""

from __future__ import annotations

from typing import Any

from nimbusguard.clients import sources, workloads


class SlowTarget:
    def __init__(self, replicas: int) -> None:
        self.replicas = self.ready = replicas
        self.utilization = 1.0
        self._ready_at: list[tuple[int, int]] = []  # (evaluation, ready replicas until then)

    def advance(self, evaluation: int, demand: float) -> None:
        while self._ready_at and self._ready_at[0][0] <= evaluation:
            self._ready_at.pop(0)
        self.ready = min([self.replicas, *(r for _, r in self._ready_at)])
        self.utilization = demand / max(self.ready, 1)

    def set(self, evaluation: int, replicas: int) -> None:
        if replicas > self.replicas:
            self._ready_at.append((evaluation + 2, self.ready))
        self.replicas = replicas
        self.ready = min(self.ready, replicas)

    async def read(self, api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
        return workloads.TargetState(self.replicas, self.ready, self.replicas, "app=web", True)

    async def scale(self, api: Any, ref: workloads.TargetRef, replicas: int) -> workloads.Scaled:
        return workloads.Scaled(replicas, None)

    async def metric(self, target: workloads.TargetState) -> sources.Reading:
        return sources.Reading("fake", self.utilization, self.utilization, "fake")

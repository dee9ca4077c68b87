"""What evaluations add to what N policies hold, in one process without a cluster
(docs/scaling.md, "Memory").

    python -m benchmarks.policy_churn [N] [--rounds R] [--trace]

Adopts N policies of the scale benchmark's fleet (benchmarks/policy_memory.py's bodies) in a
real Reconciler and evaluates each R times (15 s of clock apart) through the real workflow,
status builder and phases, with the API and the metric faked in-process: every status write
is merged into the policy's object, whose next body comes back as the watch would bring it
(decoded anew, observed), the targets answer reads and scales, the metric wanders. Q-tables
are neither read nor written. Prints the RSS after the imports, after adopting and after the
evaluations, glibc's account of its heap, the process's CPU time per evaluation over the rounds
(`cpu_ms_per_evaluation`: the watch echo's decoding and observing included, as the operator
does them; the fakes' own JSON too, so it is for comparing versions, not an absolute) and, with
`--trace`, the live Python allocations the evaluations added, by package (tracemalloc; slower,
and then the CPU time means nothing).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import math
import sys
import time
import tracemalloc
import types as pytypes
from collections.abc import Callable
from typing import Any

from api.v1 import scalingpolicy_types as types
from benchmarks import policy_memory, scale_memory
from controllers import health, learning, observability, reconciler
from nimbusguard.clients import events, policies, sources, workloads
from nimbusguard.workflow import graph

INTERVAL = 15.0


class Fleet:
    """The hub's policies, the targets and their metrics, by name."""

    def __init__(self, n: int) -> None:
        self.now = 1_800_000_000.0
        # As JSON text, as the API server keeps them: not counted as the operator's objects.
        self.objects: dict[str, str] = {}
        for i in range(n):
            obj = policy_memory.body(i)
            obj["metadata"].pop("managedFields")
            obj["status"] = {}
            self.objects[obj["metadata"]["name"]] = json.dumps(obj)
        self.replicas = dict.fromkeys(self.objects, 2)
        self.tick = 0

    def clock(self) -> float:
        return self.now

    def watched(self, name: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.objects[name])
        return decoded

    async def get(self, api: Any, namespace: str, name: str) -> dict[str, Any]:
        return self.watched(name)

    async def patch_status(
        self, api: Any, namespace: str, name: str, status: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        obj = json.loads(self.objects[name])
        merged = obj["status"]
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        meta = obj["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        self.objects[name] = json.dumps(obj)
        return {}

    async def read(self, api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
        n = self.replicas[ref.name]
        return workloads.TargetState(n, n, n, f"app={ref.name}", True)

    async def scale(self, api: Any, ref: workloads.TargetRef, replicas: int) -> workloads.Scaled:
        self.replicas[ref.name] = replicas
        return workloads.Scaled(replicas, None)

    def sources(self, key: str, *_: Any, **__: Any) -> list[Any]:
        return [Load(self, key.rsplit("/", 1)[1])]


class Load:
    """Nine in ten policies near one replica's worth, one in ten swinging (as the benchmark's
    exporter: benchmarks.scale)."""

    def __init__(self, fleet: Fleet, name: str) -> None:
        self.fleet, self.name, self.index = fleet, "prometheus", int(name.strip("p") or 0)

    async def read(self, target: workloads.TargetState) -> sources.Reading:
        phase = self.fleet.tick / 40 * 2 * math.pi + self.index
        total = 100 * (2 + math.sin(phase)) if self.index % 10 == 0 else 100 + 5 * math.sin(phase)
        per = total / max(target.replicas, 1)
        return sources.Reading("prometheus", total, per / 100, f"{per:.0f}/100")


async def _nothing(*_: Any, **__: Any) -> Any:
    return None


async def _ready(store: Any, policy: Any, rt: Any) -> learning.Loaded:
    rt.learner_ready = True
    return learning.Loaded(None)


async def _no_hpas(*_: Any, **__: Any) -> list[Any]:
    return []


class _Clients:
    hub = "hub"

    async def get(self, cluster: str | None) -> Any:
        return "api"


class _Permits:
    operator_namespace = "nimbusguard-system"

    async def check(self, policy: types.ScalingPolicy) -> Any:
        return pytypes.SimpleNamespace(refusal=None, endpoint=None)


def offline_reconciler(
    clock: Callable[[], float], identity: str = "offline", **kwargs: Any
) -> reconciler.Reconciler:
    """A Reconciler with the real workflow whose clients and permits stand for clusters that
    every call is faked for (the API modules' functions replaced; also the unit tests')."""
    return reconciler.Reconciler(
        clients=_Clients(),  # type: ignore[arg-type]
        permits=_Permits(),  # type: ignore[arg-type]
        metrics=observability.Metrics(),
        readiness=health.Readiness(),
        graph=graph.build(),
        identity=identity,
        clock=clock,
        **kwargs,
    )


def _fake(fleet: Fleet) -> None:
    """The API calls an evaluation makes, answered by `fleet` (module attributes, as the
    reconciler calls them)."""
    policies.get, policies.patch_status = fleet.get, fleet.patch_status
    workloads.read, workloads.scale = fleet.read, fleet.scale
    workloads.hpa_targets = _no_hpas
    events.post = _nothing
    learning.load, learning.persist, learning.discard = _ready, _nothing, _nothing


def _by_package(snapshot: tracemalloc.Snapshot) -> collections.Counter[str]:
    by: collections.Counter[str] = collections.Counter()
    for stat in snapshot.statistics("filename"):
        by[scale_memory._package(stat.traceback[0].filename)] += stat.size
    return by


async def run(n: int, rounds: int, trace: bool) -> dict[str, Any]:
    fleet = Fleet(n)
    _fake(fleet)
    rec = offline_reconciler(fleet.clock, "churn")
    rec.evaluator.sources = fleet.sources  # type: ignore[method-assign]
    out: dict[str, Any] = {"imports_mb": scale_memory.rss_mb()}
    for name in fleet.objects:  # adopt, as observe() does, without the loop tasks
        body = reconciler.slim(fleet.watched(name))
        memory = rec._remember(body["metadata"]["uid"], types.ScalingPolicy.model_validate(body))
        memory.body = body
    gc.collect()
    out["adopted_mb"] = scale_memory.rss_mb()
    if trace:
        tracemalloc.start(1)
        before = _by_package(tracemalloc.take_snapshot())
    cpu = time.process_time()
    for _ in range(rounds):
        fleet.tick += 1
        fleet.now += INTERVAL
        for name in fleet.objects:
            body = fleet.watched(name)  # the echo of the last write, as the watch brings it
            await rec.observe(body, lambda _: [])
            await rec.evaluate(rec._memory[body["metadata"]["uid"]].body, lambda _: [])
    out["cpu_ms_per_evaluation"] = round((time.process_time() - cpu) * 1e3 / (n * rounds), 3)
    gc.collect()
    out["decided"] = sum(
        1 for name in fleet.objects if fleet.watched(name)["status"].get("lastDecision")
    )
    out["evaluated_mb"] = scale_memory.rss_mb()
    out["glibc"] = scale_memory.mallinfo()
    if trace:
        grown = _by_package(tracemalloc.take_snapshot())
        grown.subtract(before)
        out["grown_kb_per_policy"] = {
            k: round(v / n / 1024, 2) for k, v in grown.most_common(15) if v > 0
        }
        tracemalloc.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--help" in args or "-h" in args:
        print(__doc__)
        return 0
    trace = "--trace" in args
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 10
    numbers = [a for a in args if not a.startswith("--") and a != str(rounds)]
    n = int(numbers[0]) if numbers else 1000
    print(json.dumps({"policies": n, "rounds": rounds, **asyncio.run(run(n, rounds, trace))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

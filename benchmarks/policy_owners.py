"""What one policy holds, by owner (docs/scaling.md, "Memory"): tracemalloc, no cluster.

    python -m benchmarks.policy_owners [N] [--unshared]

Builds, for N policies, in turn what the operator keeps per policy (as it keeps it: models on
shared field sets, controllers/compact.py) and counts the live allocations each step adds
(tracemalloc, started after the imports): the body kept until the next watch event, its
parsed model, the runtime (HPA baselines, learner; the learner's numpy arrays counted apart),
the statuses an evaluation leaves (built, written, the written essence), the per-policy
children of the Prometheus metrics, kopf's own memory of the object and its index entry, and
the policy's evaluation loop (a task waiting for its wake-up). Prints KB per policy per owner
and the RSS. `--unshared`: the models as parsed, each with field sets of its own (as before
controllers/compact.py).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from typing import Any, TypeVar, cast

import kopf
import pydantic
from kopf._core.reactor import inventory

from api.v1 import scalingpolicy_types as types
from benchmarks import policy_memory, scale_memory
from controllers import claims as claims_, compact, evaluation, observability, reconciler
from nimbusguard.workflow import runtime as runtime_

M = TypeVar("M", bound=pydantic.BaseModel)
_NUMPY_DOMAIN = 389047  # numpy reports its array data to tracemalloc in this domain


def _traced() -> tuple[int, int]:
    """Live traced bytes: (all, numpy array data)."""
    snap = tracemalloc.take_snapshot()
    total = sum(s.size for s in snap.statistics("filename"))
    arrays = snap.filter_traces([tracemalloc.DomainFilter(True, _NUMPY_DOMAIN)])
    return total, sum(s.size for s in arrays.statistics("filename"))


async def _loop(wake: asyncio.Event) -> None:
    await asyncio.wait_for(wake.wait(), timeout=3600)  # as a policy's loop waits its interval


async def measure(n: int, *, share: bool = True) -> tuple[dict[str, float], int, int]:
    first = types.ScalingPolicy.model_validate(policy_memory.body(0))
    stored = runtime_.new_learner("x/y", first.spec).to_bytes()

    def kept(model: M) -> M:
        return compact.shared(model) if share else model

    held: list[Any] = []
    steps: dict[str, float] = {}
    tracemalloc.start(1)
    gc.collect()
    last = _traced()
    raw = [policy_memory.body(i) for i in range(n)]  # as the watch brings them

    def step(name: str, add: list[Any], *, arrays: str | None = None) -> None:
        nonlocal last
        held.append(add)
        gc.collect()
        now = _traced()
        if arrays is None:
            steps[name] = (now[0] - last[0]) / n / 1024
        else:
            steps[arrays] = (now[1] - last[1]) / n / 1024
            steps[name] = ((now[0] - last[0]) - (now[1] - last[1])) / n / 1024
        last = now

    bodies = [reconciler.slim(b) for b in raw]
    del raw
    step("kept body (without managedFields)", bodies)
    models = [kept(types.ScalingPolicy.model_validate(dict(b))) for b in bodies]
    step("parsed model (ScalingPolicy)", models)
    runtimes = []
    for i, policy in enumerate(models):
        rt = runtime_.PolicyRuntime.create(f"{policy.metadata.namespace}/p{i}", policy.spec)
        rt.learner = runtime_.restore_learner(rt.key, policy.spec, stored, warm_start=False)
        runtimes.append(rt)
    step("runtime: HPA baselines, learner objects", runtimes, arrays="runtime: learner arrays")
    statuses = []
    for b, rt in zip(bodies, runtimes, strict=True):
        # Built by the last evaluation and the last written: two when the last write was
        # skipped (nothing new to say), one object when it was written.
        built = kept(types.ScalingPolicyStatus.model_validate(b["status"]))
        written = kept(types.ScalingPolicyStatus.model_validate(b["status"]))
        memory = evaluation.PolicyMemory(runtime=rt, body=b, parsed=(b, models[0]))
        memory.status, memory.written, memory.record = built, written, written
        memory.written_essence = evaluation._essence(written)
        statuses.append(memory)
    step("PolicyMemory and its statuses (built, written, essence)", statuses)
    metrics = observability.Metrics()
    for rt in runtimes:
        key = rt.key
        metrics.fallbacks.labels(policy=key, rung="secondary").inc()
        for kind in ("current", "ready", "desired"):
            metrics.replicas.labels(policy=key, kind=kind).set(2)
        metrics.utilization.labels(policy=key).set(0.9)
        metrics.epsilon.labels(policy=key).set(0.1)
        metrics.shield_interventions.labels(policy=key).inc()
        metrics.reward.labels(policy=key).set(0.5)
        metrics.regret.labels(policy=key).set(1.0)
    step("Prometheus children (9 per policy)", [metrics])
    kopf_memories = inventory.ResourceMemories()
    index: dict[claims_.TargetKey, dict[str, claims_.Claim]] = {}
    for i, b in enumerate(bodies):
        await kopf_memories.recall(cast("kopf.RawBody", b))
        meta = b["metadata"]
        target = claims_.target_key(meta["namespace"], dict(b["spec"]))
        index[target] = {str(i): claims_.Claim("t", meta["namespace"], meta["name"], meta["uid"])}
    step("kopf: object memory and index entry", [kopf_memories, index])
    wakes = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(_loop(w)) for w in wakes]
    await asyncio.sleep(0)
    step("evaluation loop (a waiting task)", [tasks, wakes])
    for w in wakes:
        w.set()
    await asyncio.gather(*tasks)
    rss = scale_memory.rss_mb()
    tracemalloc.stop()
    return steps, rss, len(held)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    share = "--unshared" not in args
    numbers = [a for a in args if not a.startswith("--")]
    n = int(numbers[0]) if numbers else 1000
    steps, rss, _ = asyncio.run(measure(n, share=share))
    total = sum(steps.values())
    print(
        f"{n} policies (shared field sets: {share}), RSS {rss} MB (tracemalloc on); KB per policy:"
    )
    for name, kb in steps.items():
        print(f"  {kb:6.1f}  {name}")
    print(f"  {total:6.1f}  in all ({total * n / 1024:.0f} MB at {n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What N policies hold in one process, without a cluster (docs/scaling.md, "Memory").

    python -m benchmarks.policy_memory [N] [--threads] [--full]
    MALLOC_ARENA_MAX=2 python -m benchmarks.policy_memory 1000 --threads

Imports the operator, then builds what the reconciler keeps per policy: its body as the watch
delivers it (status and managedFields included), kept as the reconciler keeps it
(`reconciler.slim`; with `--full` in full, as before), the parsed model, and the runtime with
a learner restored from a stored table (with `--threads` in worker threads, as the operator
decodes tables, so that glibc's per-thread arenas come into play). Prints the RSS after the
imports, after N policies and after `malloc_trim(0)`, and glibc's account of its heap (in use
against free in the heap).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import uuid
from typing import Any

from api.v1 import scalingpolicy_types as types
from benchmarks import scale_fleet, scale_memory
from controllers import evaluation, reconciler
from nimbusguard.workflow import runtime as runtime_

PROMETHEUS = "http://127.0.0.1:9090"


def _fields(obj: Any) -> dict[str, Any]:
    """A managedFields `fieldsV1` tree for `obj`, as the API server records it."""
    if isinstance(obj, dict):
        return {f"f:{k}": _fields(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return {f'k:{{"type":"{x.get("type")}"}}': _fields(x) for x in obj if isinstance(x, dict)}
    return {}


def body(index: int) -> dict[str, Any]:
    """Policy `index` of the scale benchmark's fleet as a watch event brings it back after a
    few evaluations: a full status and the managedFields of its creator and of the operator."""
    out = scale_fleet.policy(index, PROMETHEUS)
    when = "2026-12-02T10:00:00Z"
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": "Evaluated",
            "message": "a sentence of about eighty characters: what the last evaluation found",
            "lastTransitionTime": when,
            "observedGeneration": 1,
        }
        for kind in ("Ready", "MetricsAvailable", "Fallback", "QTableLoaded", "BaselineBeaten")
    ]
    status = {
        "phase": "Learning",
        "observedGeneration": 1,
        "currentReplicas": 2,
        "readyReplicas": 2,
        "targetReplicas": 2,
        "lastDecision": {
            "action": "hold",
            "mode": "baseline",
            "fromReplicas": 2,
            "toReplicas": 2,
            "confidence": 0.5,
            "reasoning": "utilization 0.98 within tolerance of the target; holding 2 replicas",
            "time": when,
        },
        "metrics": {"totalDecisions": 40, "judgedDecisions": 39, "successfulDecisions": 35},
        "learning": {
            "epsilon": 0.9,
            "updates": 40,
            "qTableConfigMap": f"nimbusguard-system/nimbusguard-qtable-{index}",
            "lastPersistTime": when,
        },
        "conditions": conditions,
        "metricSummary": "98/100",
        "acting": "hpa",
    }
    out["status"] = status
    out["metadata"].update(
        uid=str(uuid.uuid4()),
        generation=1,
        resourceVersion=str(1000 + index),
        creationTimestamp=when,
        managedFields=[
            {
                "manager": "benchmark",
                "operation": "Update",
                "apiVersion": "nimbusguard.io/v1",
                "time": when,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": _fields(out["spec"])},
            },
            {
                "manager": "nimbusguard",
                "operation": "Update",
                "apiVersion": "nimbusguard.io/v1",
                "time": when,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": _fields(status)},
                "subresource": "status",
            },
        ],
    )
    decoded: dict[str, Any] = json.loads(json.dumps(out))  # fresh objects, as decoded
    return decoded


async def hold(n: int, *, threads: bool, full: bool) -> list[evaluation.PolicyMemory]:
    first = types.ScalingPolicy.model_validate(body(0))
    stored = runtime_.new_learner("x/y", first.spec).to_bytes()
    kept: list[evaluation.PolicyMemory] = []

    async def one(index: int) -> None:
        slim = body(index) if full else reconciler.slim(body(index))
        policy = types.ScalingPolicy.model_validate(dict(slim))
        rt = runtime_.PolicyRuntime.create(f"{policy.metadata.namespace}/{index}", policy.spec)
        restore = (rt.key, policy.spec, stored)
        if threads:
            rt.learner = await asyncio.to_thread(
                runtime_.restore_learner, *restore, warm_start=False
            )
        else:
            rt.learner = runtime_.restore_learner(*restore, warm_start=False)
        kept.append(evaluation.PolicyMemory(runtime=rt, body=slim, parsed=(slim, policy)))

    for start in range(0, n, 50):  # in turns, as the reconciler's bound allows
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return kept


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    threads, full = "--threads" in args, "--full" in args
    numbers = [a for a in args if not a.startswith("--")]
    n = int(numbers[0]) if numbers else 1000
    full_size = len(json.dumps(body(0)))
    slim_size = len(json.dumps(reconciler.slim(body(0))))
    imported = scale_memory.rss_mb()
    kept = asyncio.run(hold(n, threads=threads, full=full))
    gc.collect()
    held = scale_memory.rss_mb()
    scale_memory.trim()
    trimmed = scale_memory.rss_mb()
    print(
        f"{n} policies (threads: {threads}, bodies kept in full: {full}, "
        f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX')})"
        f": imports {imported} MB, with the policies {held} MB "
        f"({(held - imported) * 1024 / max(n, 1):.0f} KB per policy), after malloc_trim "
        f"{trimmed} MB; glibc {scale_memory.mallinfo()}; "
        f"body JSON {full_size} bytes, kept {slim_size}"
    )
    del kept
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of one decision through the LangGraph workflow, against the same node functions
called directly, with no I/O (the target and the metric are in-memory fakes).

    python -m benchmarks.workflow_decision [--decisions 5000] [--rounds 5]

Both paths run the same observe → decide → act → reward → learn functions on the
same policy runtime (HPA baseline + Q-learner, ready and learning), on a load that moves, so
the learner scores and updates as in production. A third path is LangGraph's floor: a graph
of the same shape (the same routing nodes on a healthy evaluation's path) whose nodes do
nothing; a fourth is a graph of one empty node, so the difference is LangGraph's cost per step.
Reports p50/p99 per decision and decisions per second on one core (one event loop), and the
ratios, measured in the same process, interleaved by round. Product target: p99 ≤ 2 ms per
decision.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import itertools
import math
import statistics
import time
from typing import Any, TypedDict

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import sources, workloads
from nimbusguard.workflow import graph, nodes, runtime, state as st

SPEC = types.ScalingPolicySpec.model_validate(
    {
        "target": {"name": "web"},
        "scaling": {"minReplicas": 1, "maxReplicas": 40, "cooldownPeriod": 0},
        "metrics": {"cpu": {"targetUtilization": 70}},
        "aiConfig": {"decisionHorizonSeconds": 60},
    }
)
STEP = 15.0


@dataclasses.dataclass
class FakeTarget:
    replicas: int = 4

    async def read(self, api: Any, ref: workloads.TargetRef) -> workloads.TargetState:
        return workloads.TargetState(self.replicas, self.replicas, self.replicas, "app=web", True)

    async def scale(self, api: Any, ref: workloads.TargetRef, replicas: int) -> workloads.Scaled:
        self.replicas = replicas
        return workloads.Scaled(replicas, None)


@dataclasses.dataclass
class FakeMetric:
    target: FakeTarget
    clock: list[float]
    name: str = "cpu"

    async def read(self, state: workloads.TargetState) -> sources.Reading:
        demand = 8 + 6 * math.sin(self.clock[0] / 900.0)  # a slow wave, in replicas at target
        u = demand / max(self.target.replicas, 1)
        return sources.Reading(self.name, u, u, "bench")


async def _no_intent(_: st.Intent) -> bool:
    return True


def _context(target: FakeTarget, clock: list[float]) -> st.EvaluationContext:
    rt = runtime.PolicyRuntime.create("bench/web", SPEC)
    rt.learner_ready = True
    return st.EvaluationContext(
        target=workloads.TargetRef("Deployment", "web", "bench"),
        api="fake",
        api_error=None,
        sources=[FakeMetric(target, clock)],
        runtime=rt,
        record_intent=_no_intent,
    )


def _input(now: float, i: int) -> st.EvaluationInput:
    return st.EvaluationInput(
        policy="bench/web",
        spec=SPEC,
        now=now,
        evaluation_id=f"e{i}",
        may_act=True,
        last_scaling_time=None,
    )


@dataclasses.dataclass
class _Runtime:
    """What LangGraph hands a node as `runtime`; the direct path passes the same context."""

    context: st.EvaluationContext


async def _direct(ctx: st.EvaluationContext, inp: st.EvaluationInput) -> None:
    """The workflow's path for a healthy evaluation, as plain awaits of the same nodes."""
    rt: Any = _Runtime(ctx)
    state: dict[str, Any] = {"input": inp}
    state.update(await nodes.observe(state, rt))  # type: ignore[arg-type]
    state.update(await nodes.decide(state, rt))  # type: ignore[arg-type]
    if nodes.after_decide(state) == "act":  # type: ignore[arg-type]
        state.update(await nodes.act(state, rt))  # type: ignore[arg-type]
    state.update(await nodes.reward(state, rt))  # type: ignore[arg-type]
    state.update(await nodes.learn(state, rt))  # type: ignore[arg-type]


HEALTHY_PATH = ["observe", "decide", "act", "reward", "learn"]


def _floor_graph(names: list[str]) -> Any:
    """The workflow's shape on a healthy evaluation's path, with nodes that do nothing (the
    nodes that route in the real graph route here too, by `Command`, as graph.py's do)."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command

    def noop(name: str) -> Any:
        async def node(state: dict[str, Any]) -> dict[str, Any]:
            return {name: True}

        return node

    def routed(name: str, to: str) -> Any:
        async def node(state: dict[str, Any]) -> Command[str]:
            return Command(update={name: True}, goto=to)

        return node

    # A key per node, as the real state has keys (a Command's update names its channels).
    floor_state: Any = TypedDict("floor_state", dict.fromkeys(names, bool), total=False)  # type: ignore[misc]
    g: Any = StateGraph(floor_state)
    for here, nxt in itertools.pairwise([*names, END]):
        if here in ("observe", "decide", "act") and nxt != END:  # route in the real graph
            g.add_node(here, routed(here, nxt), destinations=(nxt,))
        else:
            g.add_node(here, noop(here))
            g.add_edge(here, nxt)
    g.add_edge(START, "observe")
    return g.compile()


async def _measure(kind: str, decisions: int, compiled: Any) -> list[float]:
    timings: list[float] = []
    if kind.startswith("floor"):
        for _ in range(decisions):
            start = time.perf_counter()
            await compiled.ainvoke({})
            timings.append(time.perf_counter() - start)
        return timings
    target = FakeTarget()
    clock = [1_800_000_000.0]
    ctx = _context(target, clock)
    for i in range(decisions):
        clock[0] += STEP
        inp = _input(clock[0], i)
        start = time.perf_counter()
        if kind == "workflow":
            await compiled.ainvoke({"input": inp}, context=ctx)
        else:
            await _direct(ctx, inp)
        timings.append(time.perf_counter() - start)
    return timings


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(decisions: int, rounds: int) -> dict[str, dict[str, float]]:
    fake = FakeTarget()
    workloads.read = fake.read  # no I/O: the benchmark's fakes
    workloads.scale = fake.scale
    compiled = graph.build()
    graphs = {
        "workflow": compiled,
        "direct": compiled,
        "floor": _floor_graph(HEALTHY_PATH),
        "floor1": _floor_graph(HEALTHY_PATH[:1]),
    }
    for kind, g in graphs.items():
        await _measure(kind, 200, g)  # warm-up: imports and caches
    per_round: dict[str, list[dict[str, float]]] = {kind: [] for kind in graphs}
    for _ in range(rounds):
        for kind, g in graphs.items():
            gc.collect()
            t = await _measure(kind, decisions, g)
            per_round[kind].append(
                {"p50": _pct(t, 0.5), "p99": _pct(t, 0.99), "per_s": len(t) / sum(t)}
            )
    summary: dict[str, dict[str, float]] = {}
    for kind, rows in per_round.items():
        summary[kind] = {
            key: statistics.median(r[key] for r in rows) for key in ("p50", "p99", "per_s")
        }
    return summary


def _python_speed() -> float:
    """Seconds for 10**7 additions in a Python loop: how fast this machine's core is, to read
    the absolute numbers against."""
    start = time.perf_counter()
    total = 0
    for i in range(10**7):
        total += i
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    s = asyncio.run(main_async(args.decisions, args.rounds))
    w, d, f, f1 = s["workflow"], s["direct"], s["floor"], s["floor1"]
    print(f"{args.rounds} rounds × {args.decisions} decisions, medians over rounds")
    print("| path | p50 per decision | p99 per decision | decisions/s (one core) |")
    print("|---|---|---|---|")
    rows = (
        ("LangGraph workflow", w),
        ("same nodes called directly", d),
        ("LangGraph floor: same shape, empty nodes", f),
        ("LangGraph floor: one empty node", f1),
    )
    for name, row in rows:
        print(
            f"| {name} | {row['p50'] * 1e3:.3f} ms | {row['p99'] * 1e3:.3f} ms | "
            f"{row['per_s']:,.0f} |"
        )
    print(
        f"\nworkflow ÷ direct: p50 {w['p50'] / d['p50']:.2f}×, p99 {w['p99'] / d['p99']:.2f}×, "
        f"throughput {d['per_s'] / w['per_s']:.2f}× lower"
    )
    print(
        f"workflow − floor (our nodes inside LangGraph): p50 {(w['p50'] - f['p50']) * 1e3:.3f} ms"
    )
    steps = len(HEALTHY_PATH) - 1
    print(
        f"LangGraph per step: p50 {(f['p50'] - f1['p50']) / steps * 1e3:.3f} ms, "
        f"p99 {(f['p99'] - f1['p99']) / steps * 1e3:.3f} ms"
    )
    print(f"target p99 ≤ 2 ms: {'met' if w['p99'] <= 0.002 else 'NOT met'}")
    print(f"this core: 10**7 additions in a Python loop take {_python_speed():.2f} s")


if __name__ == "__main__":
    main()

"""The evaluation workflow as a LangGraph StateGraph, compiled once per process.

    START → observe ─┬─ error / paused ───────────────────────→ END
                     ├─ metric missing → fall_back ─┬→ act ───→ END
                     │                              └─────────→ END
                     └→ decide ─┬→ act → reward → learn → END
                                └──────→ reward → learn → END   (hold / cooldown)

`learn` also remembers the observation for the next evaluation's reward: every path with an
observation ends there, and the paths without one have nothing to remember. A `report` node
after `learn` did only that, one LangGraph step on every path (docs/scaling.md, "CPU round 2").

No checkpointer: the policy's status and its Q-table ConfigMap are the durable state, and an
in-memory checkpointer would grow with every evaluation.

The branches are the nodes' own: a node that routes returns a `Command` naming the next node
(its router, `nodes.after_*`, runs on the state with the node's update) and declares where it
may go, so the graph (and its drawing) has the same edges. A conditional edge instead ran as a
step of its own after the node: a traced LangGraph run (callback manager, run id, a task) and
a fresh read of every channel, per route; three of them on a healthy evaluation's path cost
about an eighth of the graph's CPU (docs/scaling.md, "CPU round").
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from nimbusguard.workflow import nodes, state as st

# The compiled evaluation graph (build it once; `run` it per evaluation).
Compiled = CompiledStateGraph[st.EvaluationState, st.EvaluationContext, Any, Any]


async def run(
    compiled: Compiled, inp: st.EvaluationInput, ctx: st.EvaluationContext
) -> st.EvaluationState:
    """One evaluation through the graph: START → observe → … → END."""
    final = await compiled.ainvoke({"input": inp}, context=ctx)
    return typing.cast(st.EvaluationState, final)


Node = Callable[[st.EvaluationState, Runtime[st.EvaluationContext]], Awaitable[nodes.Update]]


def _routed(node: Node, route: Callable[[st.EvaluationState], str]) -> Any:
    """`node`, then its routing, in one step: the update and the next node as a `Command`."""

    async def step(
        state: st.EvaluationState, runtime: Runtime[st.EvaluationContext]
    ) -> Command[str]:
        update = await node(state, runtime)
        after = typing.cast(st.EvaluationState, {**state, **update})
        return Command(update=update, goto=route(after))

    return step


def build() -> Compiled:
    """The compiled graph; evaluate with `run(graph, inp, ctx)`."""
    g: StateGraph[st.EvaluationState, st.EvaluationContext, Any, Any] = StateGraph(
        st.EvaluationState, context_schema=st.EvaluationContext
    )
    g.add_node(
        "observe",
        _routed(nodes.observe, nodes.after_observe),
        destinations=("decide", "fall_back", END),
    )
    g.add_node("decide", _routed(nodes.decide, nodes.after_decide), destinations=("act", "reward"))
    g.add_node(
        "fall_back",
        _routed(nodes.fall_back, nodes.after_fall_back),
        destinations=("act", END),
    )
    g.add_node("act", _routed(nodes.act, nodes.after_act), destinations=("reward", END))
    g.add_node("reward", nodes.reward)
    g.add_node("learn", nodes.learn)

    g.add_edge(START, "observe")
    g.add_edge("reward", "learn")
    g.add_edge("learn", END)
    return g.compile(name="nimbusguard-evaluation")

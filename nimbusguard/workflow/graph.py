"""The evaluation workflow as a LangGraph StateGraph, compiled once per process.

    START → observe ─┬─ error / paused ─────────────────────────────→ report → END
                     ├─ metric missing → fall_back ─┬→ act ─────────→ report
                     │                              └───────────────→ report
                     └→ decide ─┬→ act → reward → learn → report
                                └──────→ reward → learn → report   (hold / cooldown)

No checkpointer: the policy's status and its Q-table ConfigMap are the durable state, and an
in-memory checkpointer would grow with every evaluation.
"""

from __future__ import annotations

import typing
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from nimbusguard.workflow import nodes, state as st

# The compiled evaluation graph (build it once; `run` it per evaluation).
Compiled = CompiledStateGraph[st.EvaluationState, st.EvaluationContext, Any, Any]


async def run(
    compiled: Compiled, inp: st.EvaluationInput, ctx: st.EvaluationContext
) -> st.EvaluationState:
    """One evaluation through the graph: START → observe → … → report → END."""
    final = await compiled.ainvoke({"input": inp}, context=ctx)
    return typing.cast(st.EvaluationState, final)


def build() -> Compiled:
    """The compiled graph; evaluate with `run(graph, inp, ctx)`."""
    g: StateGraph[st.EvaluationState, st.EvaluationContext, Any, Any] = StateGraph(
        st.EvaluationState, context_schema=st.EvaluationContext
    )
    g.add_node("observe", nodes.observe)
    g.add_node("decide", nodes.decide)
    g.add_node("fall_back", nodes.fall_back)
    g.add_node("act", nodes.act)
    g.add_node("reward", nodes.reward)
    g.add_node("learn", nodes.learn)
    g.add_node("report", nodes.report)

    g.add_edge(START, "observe")
    g.add_conditional_edges("observe", nodes.after_observe, ["decide", "fall_back", "report"])
    g.add_conditional_edges("decide", nodes.after_decide, ["act", "reward"])
    g.add_conditional_edges("fall_back", nodes.after_fall_back, ["act", "report"])
    g.add_conditional_edges("act", nodes.after_act, ["reward", "report"])
    g.add_edge("reward", "learn")
    g.add_edge("learn", "report")
    g.add_edge("report", END)
    return g.compile(name="nimbusguard-evaluation")

"""Where the operator's CPU goes, from a CPU-timed cProfile of `nimbusguard run` (see
benchmarks/scale_profiled.py), per evaluation.

Own time (tottime) of every function is put in one bucket by the file it lives in, so the
buckets add up to the process's profiled CPU time. cProfile's overhead inflates call-heavy
code (pydantic's Python validators, LangGraph's many small calls) more than C code, so the
shares matter more than the absolute milliseconds; the benchmark says so next to the table.
"""

from __future__ import annotations

import pstats
from collections.abc import Mapping
from pathlib import Path

# First match wins: (bucket, substrings of the file path or function name).
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("workflow (LangGraph, langchain-core)", ("/langgraph/", "/langchain_core/", "/langsmith/")),
    ("pydantic validation and dumps", ("/pydantic/", "/pydantic_core/", "pydantic_core")),
    ("kopf (watch, events, indices)", ("/kopf/",)),
    ("Kubernetes client (models, serialization)", ("/kubernetes/",)),
    ("HTTP and TLS (aiohttp, ssl, sockets)", ("/aiohttp/", "/ssl.py", "_ssl", "/yarl/",
                                              "/multidict/", "socket", "/http/")),
    ("JSON", ("/json/", "_json", "json.")),
    ("asyncio event loop", ("/asyncio/", "/selectors.py", "select.epoll", "_asyncio")),
    ("logging", ("/logging/",)),
    ("prometheus_client", ("/prometheus_client/",)),
    ("NimbusGuard: workflow nodes and scaling core", ("/nimbusguard/workflow/",
                                                     "/nimbusguard/scaling/")),
    ("NimbusGuard: clients", ("/nimbusguard/clients/",)),
    ("NimbusGuard: controllers and API types", ("/controllers/", "/api/v1/", "/nimbusguard/")),
    ("numpy", ("/numpy/",)),
)  # fmt: skip
OTHER = "other (stdlib, interpreter)"


def bucket(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, needles in BUCKETS:
        if any(needle in where for needle in needles):
            return name
    return OTHER


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Own CPU seconds per bucket."""
    out: dict[str, float] = {}
    table: Mapping[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in table.items():
        name = bucket(filename, function)
        out[name] = out.get(name, 0.0) + tottime
    return out


def per_evaluation(profile: Path, evaluations: int) -> dict[str, float]:
    """Milliseconds of own CPU per evaluation by bucket, largest first (idle waiting in the
    event loop's select is left out: it is not work)."""
    stats = pstats.Stats(str(profile))
    raw = shares(stats)
    idle = _idle(stats)
    raw["asyncio event loop"] = max(0.0, raw.get("asyncio event loop", 0.0) - idle)
    count = max(evaluations, 1)
    ranked = sorted(raw.items(), key=lambda kv: -kv[1])
    return {name: round(seconds * 1000 / count, 3) for name, seconds in ranked}


def _idle(stats: pstats.Stats) -> float:
    table = stats.stats  # type: ignore[attr-defined]
    return float(
        sum(
            entry[2]
            for (filename, _line, function), entry in table.items()
            if "poll" in function and ("select" in filename or "select" in function)
        )
    )


def render(rows: Mapping[str, float]) -> list[str]:
    total = sum(rows.values()) or 1.0
    lines = ["| where | ms CPU per evaluation | share |", "|---|---|---|"]
    for name, ms in rows.items():
        lines.append(f"| {name} | {ms:.2f} | {ms / total:.0%} |")
    lines.append(f"| **total** | **{total:.2f}** | |")
    return lines

"""The operator's imports, by package: RSS increments in import order (docs/scaling.md,
"Memory").

    python -m benchmarks.import_memory

Imports the operator's heavy dependencies one after the other, each with what it pulls in
that is not loaded yet, then the operator itself (`controllers.manager`), and prints the RSS
each step added. Packages imported by an earlier step count there: read the order.
"""

from __future__ import annotations

import gc
import importlib
import sys

from benchmarks import scale_memory

ORDER = (
    "nimbusguard",  # first, as in the operator: it keeps the sync Kubernetes client's __init__ out
    "numpy",
    "pydantic",
    "aiohttp",
    "kubernetes.aio.client",
    "kopf",
    "prometheus_client",
    "nimbusguard.workflow",  # before LangGraph: it keeps the LangGraph SDK's __init__ out
    "langchain_core.runnables",
    "langgraph.graph",
    "controllers.manager",
)
WATCHED = ("langsmith", "langgraph_sdk.client", "httpx", "rich", "pykube")


def main() -> int:
    sys.modules["pykube"] = None  # type: ignore[assignment]  # dev-only (pytest-kind), not in the image
    before = scale_memory.rss_mb()
    print(f"{'interpreter':32s} {before:4d} MB")
    for name in ORDER:
        importlib.import_module(name)
        gc.collect()
        now = scale_memory.rss_mb()
        print(f"{name:32s} +{now - before:3d} MB")
        before = now
    print(f"{'in all':32s} {before:4d} MB")
    loaded = [m for m in WATCHED if sys.modules.get(m) is not None]
    print("loaded of", ", ".join(WATCHED), ":", ", ".join(loaded) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

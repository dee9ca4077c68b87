"""The evaluation workflow (a LangGraph graph) and each policy's runtime state.

LangGraph's `Runtime` names a type from `langgraph_sdk.auth.types`, and importing any module of
the SDK runs the package's `__init__`, which imports the LangGraph server client and httpx:
about 7 MB of memory (docs/scaling.md, "Memory") for code the operator never calls. So the
package is registered here before LangGraph is imported, without running its `__init__`
(`nimbusguard.deferred`).
"""

from __future__ import annotations

from nimbusguard.deferred import defer_package

defer_package("langgraph_sdk")

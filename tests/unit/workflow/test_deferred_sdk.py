"""The LangGraph SDK package is registered without its `__init__` (which imports the server
client and httpx) and still complete on first use."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from nimbusguard.workflow import graph
graph.build()
loaded = sorted(m for m in sys.modules if m.startswith(("langgraph_sdk.client", "httpx.")))
import langgraph_sdk
print(loaded, callable(langgraph_sdk.get_client), "langgraph_sdk.client" in sys.modules)
"""


def test_graph_builds_without_the_sdk_client_and_the_sdk_loads_on_first_use() -> None:
    # A fresh interpreter: this test process may have imported the SDK already.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["[]", "True", "True"]

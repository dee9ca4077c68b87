"""Packages whose `__init__` imports more than the operator uses are registered without it
(`nimbusguard.deferred`) and are still complete on first use."""

from __future__ import annotations

import subprocess
import sys

_SDK_PROBE = """
import sys
from nimbusguard.workflow import graph
graph.build()
loaded = sorted(m for m in sys.modules if m.startswith(("langgraph_sdk.client", "httpx.")))
import langgraph_sdk
print(loaded, callable(langgraph_sdk.get_client), "langgraph_sdk.client" in sys.modules)
"""

# pykube comes with the development virtualenv only (through pytest-kind); the image has none,
# and kopf imports the synchronous client's models when pykube is missing.
_KUBERNETES_PROBE = """
import sys
sys.modules["pykube"] = None
from nimbusguard import cli
import controllers.manager
from kubernetes.aio import client
client.CoreV1Api
sync = ("kubernetes.dynamic", "kubernetes.stream", "kubernetes.watch", "kubernetes.informer")
loaded = sorted(m for m in sys.modules if m.startswith(sync))
import kubernetes
print(loaded, kubernetes.__version__ == client.__version__, "kubernetes.dynamic" in sys.modules)
"""


def _probe(code: str) -> list[str]:
    # A fresh interpreter: this test process may have imported the packages already.
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()


def test_graph_builds_without_the_sdk_client_and_the_sdk_loads_on_first_use() -> None:
    assert _probe(_SDK_PROBE) == ["[]", "True", "True"]


def test_the_operator_loads_without_the_sync_kubernetes_client_which_loads_on_use() -> None:
    assert _probe(_KUBERNETES_PROBE) == ["[]", "True", "True"]

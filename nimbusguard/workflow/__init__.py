"""The evaluation workflow (a LangGraph graph) and each policy's runtime state.

LangGraph's `Runtime` names a type from `langgraph_sdk.auth.types`, and importing any module of
the SDK runs the package's `__init__`, which imports the LangGraph server client and httpx:
about 7 MB of memory (docs/scaling.md, "Memory") for code the operator never calls. So the
package is registered here before LangGraph is imported, without running its `__init__`; its
submodules import as usual, and the first attribute asked of the package itself runs the
`__init__` then, so a caller of the SDK still gets it whole.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def _defer_sdk_package(name: str = "langgraph_sdk") -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def first_use(attr: str) -> Any:
        del package.__dict__["__getattr__"]  # run once: the __init__ may ask for attributes
        loader.exec_module(package)
        return getattr(package, attr)

    package.__dict__["__getattr__"] = first_use
    sys.modules[name] = package


_defer_sdk_package()

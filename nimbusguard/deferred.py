"""Packages registered without running their `__init__` until something asks the package itself.

Some packages' `__init__` imports far more than the submodules the operator uses: the
Kubernetes client's imports the whole synchronous client (urllib3, requests, oauthlib, yaml,
websocket, the informer) when only `kubernetes.aio` is wanted, and LangGraph's SDK imports its
server client and httpx. Registering the package first lets its submodules import as usual;
the first attribute asked of the package that is not an imported submodule runs the
`__init__` then, so any caller of the package still gets it whole (docs/scaling.md, "Memory").
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any


def defer_package(name: str) -> None:
    """Register package `name` with its `__init__` deferred (no-op once it is imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def first_use(attr: str) -> Any:
        # `import pkg.sub.mod as m` inside pkg.sub's own `__init__` asks pkg for `sub` before
        # the import system has set it: that is not a use of pkg's `__init__`.
        submodule: ModuleType | None = sys.modules.get(f"{name}.{attr}")
        if submodule is not None:
            return submodule
        del package.__dict__["__getattr__"]  # run once: the __init__ may ask for attributes
        loader.exec_module(package)
        return getattr(package, attr)

    package.__dict__["__getattr__"] = first_use
    sys.modules[name] = package

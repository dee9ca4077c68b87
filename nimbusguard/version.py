"""The installed version of NimbusGuard, for `nimbusguard --version`, logs and build info."""

from __future__ import annotations

import importlib.metadata
import platform

DISTRIBUTION = "nimbusguard-operator"


def version() -> str:
    """The version of the installed distribution ("unknown" when run from bare sources)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_info() -> dict[str, str]:
    """Labels of nimbusguard_build_info: what runs, on which Python."""
    return {
        "version": version(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def describe() -> str:
    """One line: `nimbusguard 0.1.0 (CPython 3.11.7)`."""
    info = build_info()
    return (
        f"nimbusguard {info['version']} ({info['python_implementation']} {info['python_version']})"
    )

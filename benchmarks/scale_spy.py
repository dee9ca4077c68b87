"""Group a py-spy profile of the operator by where the code lives (docs/scaling.md, third
profile).

    py-spy record --pid <operator> --duration 60 --rate 50 --idle --format raw -o spy.txt
    python -m benchmarks.scale_spy spy.txt [more.txt ...]

Only the main thread (the event loop) counts; each sample goes to the file of its innermost
frame (own time), and a sample waiting in epoll is idle. One column per file, as shares of the
busy samples, and the busy share of all samples in the last row.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

IDLE = "idle"
# (label, path prefixes as py-spy prints them: relative to site-packages or the project)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "workflow machinery (LangGraph, langchain-core)",
        ("pregel/", "graph/", "_internal/", "channels/", "checkpoint/", "langchain_core/"),
    ),
    ("Kubernetes client (models, serialization, validate_call)", ("kubernetes/",)),
    (
        "HTTP and TLS (aiohttp, ssl, transports)",
        ("aiohttp/", "ssl.py", "asyncio/sslproto.py", "asyncio/selector_events.py", "yarl/"),
    ),
    ("kopf (watch events, handlers)", ("kopf/",)),
    ("pydantic (validation, dumps)", ("pydantic",)),
    ("JSON", ("json/",)),
    ("NimbusGuard code", ("nimbusguard/", "controllers/", "api/")),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
    ("logging, numpy, prometheus_client", ("logging/", "numpy/", "prometheus_client/")),
)
REST = "Python itself and the rest of the stdlib"
_FRAME = re.compile(r"(?P<func>.*) \((?P<path>.*?):\d+\)$")


def group(frame: str) -> str:
    match = _FRAME.match(frame)
    func, path = (match["func"], match["path"]) if match else (frame, "")
    if func.startswith("EpollSelector.select"):
        return IDLE
    for label, prefixes in GROUPS:
        if path.startswith(prefixes):
            return label
    return REST


def shares(raw: Path) -> tuple[dict[str, float], float]:
    """Busy samples per group (as shares of the busy ones) and the busy share of all."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if frames[0].startswith("_run_module_as_main"):  # the main thread
            counts[group(frames[-1])] += int(n)
    total = sum(counts.values())
    busy = total - counts.pop(IDLE, 0)
    return {k: v / busy for k, v in counts.items()}, busy / total


def main(argv: list[str]) -> int:
    columns = [shares(Path(arg)) for arg in argv]
    labels = sorted(columns[0][0], key=lambda k: -columns[0][0][k])
    for label in labels:
        cells = " | ".join(f"{c.get(label, 0.0):.0%}" for c, _ in columns)
        print(f"| {label} | {cells} |")
    busy = " | ".join(f"{b:.0%}" for _, b in columns)
    print(f"| *the loop busy, of the wall time* | {busy} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

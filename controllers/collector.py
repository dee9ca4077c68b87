"""Python's cyclic garbage collector, kept from blocking the evaluations.

A full collection scans every tracked object and holds the GIL, so every evaluation due
meanwhile starts late. At 1,000 policies a process tracks 270k (in-process) to 600k (on the
local clusters, with kopf's state) objects, and a full collection took 0.5-1.8 s; most of those
objects live as long as the process (imports, clients, the compiled graph) or as long as their
policy (its learner, parsed spec, loop). Frozen (`gc.freeze`), they are left out of every
collection: only what the evaluations replace is scanned (about 95k objects at 1,000 policies,
not growing with time), a third of the pause (docs/scaling.md, "Lag round").

Frozen objects are still freed when their last reference goes; only cyclic garbage among them
would stay, so once an hour everything is thawed, collected once and frozen again.

The thresholds are raised too. CPython starts a full collection after ten middle ones once the
objects promoted since the last exceed a quarter of the old generation; frozen objects do not
count there, so with the defaults a process of 1,000 policies ran a full collection every 5 s
(10-18 in 90 s on the local clusters) and spent 10-12 s of every 90 in collections of all three
generations. Young collections every 10,000 net container allocations instead of 700 leave
most of an evaluation's temporaries to be freed by their reference counts before any scan:
1 full collection and 3 s in the same window (docs/scaling.md, "GC round").
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from controllers import observability

# After the start-up round: the policies found at start are first evaluated within one
# interval (at most STARTUP_SPREAD_MAX), and their learners and loops then exist.
SETTLE_SECONDS = 60.0
THAW_EVERY_SECONDS = 3600.0
THRESHOLDS = (10_000, 10, 10)  # CPython's default is (700, 10, 10)


class Collector:
    """Freezes what lives long and times every collection into
    nimbusguard_gc_pause_seconds."""

    def __init__(self, metrics: observability.Metrics) -> None:
        self._pause = metrics.gc_pause
        self._began = 0.0
        self._thresholds: tuple[int, int, int] | None = None

    def install(self) -> None:
        """Time collections from now on, and freeze what exists: the imports, the clients and
        the compiled graph."""
        if self._timed not in gc.callbacks:
            gc.callbacks.append(self._timed)
        gc.collect()
        gc.freeze()
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)

    def uninstall(self) -> None:
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self._pause.labels(generation=str(info["generation"])).observe(
                time.perf_counter() - self._began
            )


async def keep_frozen(
    settle: float = SETTLE_SECONDS, thaw_every: float = THAW_EVERY_SECONDS
) -> None:
    """Freeze the policies' long-lived state once it exists, then thaw, collect and freeze
    again every `thaw_every` seconds; until cancelled."""
    await asyncio.sleep(settle)
    while True:
        gc.collect()  # what is garbage now is not frozen with the rest
        gc.freeze()
        await asyncio.sleep(thaw_every)
        gc.unfreeze()

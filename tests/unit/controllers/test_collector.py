"""Long-lived objects are frozen out of the collector's scans and young collections are rarer;
cyclic garbage among frozen objects is still freed at the next thaw; every collection's pause
is in /metrics."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from controllers import collector, observability


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the suite runs with an ordinary collector


def test_collections_are_timed_by_generation_and_what_exists_is_frozen() -> None:
    metrics = observability.Metrics()
    c = collector.Collector(metrics)
    before = gc.get_threshold()
    c.install()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == collector.THRESHOLDS != before
        gc.collect()
    finally:
        c.uninstall()
    assert gc.get_threshold() == before
    full = metrics.registry.get_sample_value(
        "nimbusguard_gc_pause_seconds_count", {"generation": "2"}
    )
    assert full is not None and full >= 2  # install's own collection and this one
    gc.collect()  # not timed any more
    assert (
        metrics.registry.get_sample_value("nimbusguard_gc_pause_seconds_count", {"generation": "2"})
        == full
    )


async def test_frozen_cyclic_garbage_is_freed_at_the_next_thaw() -> None:
    held = Cycle()
    alive = weakref.ref(held)
    task = asyncio.create_task(collector.keep_frozen(settle=0.0, thaw_every=0.3))
    try:
        deadline = time.monotonic() + 5
        while gc.get_freeze_count() == 0:  # the first freeze
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        del held
        gc.collect()
        assert alive() is not None  # frozen: out of the collector's reach
        while alive() is not None:  # thawed, collected and frozen again
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

"""The Lease thread: coroutines run on a loop of their own, so a renewal goes out while the
operator's loop is busy; results, errors and cancellation come back to the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from nimbusguard.clients import loop_thread


@pytest.fixture
async def thread() -> AsyncIterator[loop_thread.LoopThread]:
    async with loop_thread.running("test") as started:
        yield started


def _hog(seconds: float) -> None:
    """Hold the caller's loop (and the GIL, between switches) as an evaluation burst does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))


async def _tick(ticks: list[float], period: float) -> None:
    while True:
        ticks.append(time.monotonic())
        await asyncio.sleep(period)


async def test_results_and_errors_come_back(thread: loop_thread.LoopThread) -> None:
    async def where() -> int:
        await asyncio.sleep(0)
        return id(asyncio.get_running_loop())

    assert await thread.run(where()) != id(asyncio.get_running_loop())

    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await thread.run(fail())


async def test_cancelling_the_caller_waits_for_the_coroutine_to_finish(
    thread: loop_thread.LoopThread,
) -> None:
    cleaned: list[str] = []
    entered = asyncio.Event()
    caller = asyncio.get_running_loop()

    async def held() -> None:
        caller.call_soon_threadsafe(entered.set)
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # a release that takes a round trip
            cleaned.append("done")

    task = asyncio.create_task(thread.run(held()))
    await asyncio.wait_for(entered.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["done"]


async def test_a_coroutine_on_the_thread_runs_while_the_callers_loop_is_busy(
    thread: loop_thread.LoopThread,
) -> None:
    on_thread: list[float] = []
    on_caller: list[float] = []
    ticking = asyncio.create_task(thread.run(_tick(on_thread, 0.02)))
    control = asyncio.create_task(_tick(on_caller, 0.02))
    await asyncio.sleep(0.1)  # both tick
    began = time.monotonic()
    _hog(0.6)
    during_thread = [t for t in on_thread if t > began]
    during_caller = [t for t in on_caller if t > began]
    ticking.cancel()
    control.cancel()
    await asyncio.gather(ticking, control, return_exceptions=True)
    assert during_caller == []  # the control: the busy loop ran nothing else
    assert len(during_thread) >= 5


async def test_run_on_brings_a_coroutine_back_to_the_callers_loop(
    thread: loop_thread.LoopThread,
) -> None:
    caller = asyncio.get_running_loop()

    async def on_caller() -> bool:
        return asyncio.get_running_loop() is caller

    async def from_thread() -> bool:
        return await loop_thread.run_on(caller, on_caller())

    assert await thread.run(from_thread())
    assert await loop_thread.run_on(caller, on_caller())  # already there: awaited directly


def test_stop_cancels_what_still_runs() -> None:
    started = loop_thread.LoopThread("stop")
    started.start()
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    asyncio.run_coroutine_threadsafe(forever(), started._loop)
    deadline = time.monotonic() + 5
    while not asyncio.all_tasks(started._loop) and time.monotonic() < deadline:
        time.sleep(0.01)
    started.stop()
    assert cancelled == [True]
    assert started._loop.is_closed()

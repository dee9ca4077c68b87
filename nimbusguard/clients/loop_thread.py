"""A private event loop in a daemon thread, for the Lease renewals.

A due renewal on the operator's own loop waits behind every callback that is ready before it:
with hundreds of evaluations in flight that backlog reaches seconds, and a leader past its
renew deadline loses the Lease to its own load. On a loop of its own a renewal waits only for
the GIL, which CPython hands over every few milliseconds.

Objects bound to a loop (an ApiClient's connection pool) must be created, used and closed on
the same loop: create them with `run(...)` and use them only through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT = 5.0


class LoopThread:
    """Runs coroutines on its own event loop in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (after cancelling what still runs on it) and close it."""
        if not self._thread.is_alive():
            self._loop.close()
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(STOP_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on this thread's loop and return (or raise) what it does.

        Cancelling the caller cancels `coro` and waits until it has finished on the thread, so
        a caller that goes on (to release the Lease, say) never overlaps with it.
        """
        caller = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = caller.create_future()
        started: list[asyncio.Task[T]] = []

        def settle(task: asyncio.Task[T]) -> None:  # on the caller's loop
            if outcome.done():
                return
            if task.cancelled():
                outcome.cancel()
            elif (exc := task.exception()) is not None:
                outcome.set_exception(exc)
            else:
                outcome.set_result(task.result())

        def start() -> None:  # on this thread's loop
            task = self._loop.create_task(coro)
            task.add_done_callback(lambda t: caller.call_soon_threadsafe(settle, t))
            started.append(task)

        def cancel() -> None:  # on this thread's loop, always after start(): FIFO
            started[0].cancel()

        self._loop.call_soon_threadsafe(start)
        try:
            return await asyncio.shield(outcome)
        except asyncio.CancelledError:
            if outcome.done():
                raise
            self._loop.call_soon_threadsafe(cancel)
            with contextlib.suppress(BaseException):
                await outcome
            raise


@contextlib.asynccontextmanager
async def running(name: str) -> AsyncIterator[LoopThread]:
    """A started LoopThread for the life of the block."""
    thread = LoopThread(name)
    thread.start()
    try:
        yield thread
    finally:
        # Joining blocks for at most STOP_TIMEOUT; off the caller's loop so it keeps serving.
        await asyncio.to_thread(thread.stop)


async def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Await here a coroutine that must run on `loop` (the operator's, from the Lease thread:
    stopping the loops of released shards)."""
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

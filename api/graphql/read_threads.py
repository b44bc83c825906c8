"""The threads the API's reads run on, each handing its result straight back to the waiting event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# One read: the loop that waits, the future it waits on, the request's context and the call.
_Read = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[[], Any]]


class ReadThreads:
    """`size` threads taking reads from one queue, started by the first read.

    What `loop.run_in_executor` with a `ThreadPoolExecutor` does, less its second future: that
    makes a `concurrent.futures.Future` per call, takes the executor's locks and chains the two
    futures across the threads with callbacks, two fifths of the CPU of a read's trip through a
    thread. Here the thread settles the loop's own future, in the loop (`call_soon_threadsafe`).
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._reads: queue.SimpleQueue[_Read | None] = queue.SimpleQueue()
        self._started = False

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on one of the threads, in the caller's context (its log lines' request id)."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._reads.put((loop, future, contextvars.copy_context(), fn))
        return await future

    def close(self) -> None:
        """Let the threads end once the reads already queued are done."""
        if self._started:
            for _ in range(self.size):
                self._reads.put(None)

    def _start(self) -> None:
        self._started = True
        for n in range(self.size):
            # Daemons: an app whose lifespan never ends (tests, a failed start) does not hold the
            # interpreter open at exit, and a read cut short there changes nothing.
            threading.Thread(target=self._work, name=f"{self.name}_{n}", daemon=True).start()

    def _work(self) -> None:
        while (read := self._reads.get()) is not None:
            loop, future, context, fn = read
            if future.cancelled():  # its request is gone; an executor drops such a call too
                continue
            try:
                result, error = context.run(fn), None
            except BaseException as exc:  # handed to the request that waits, as an executor does
                result, error = None, exc
            # A loop that has closed (the server stopped) refuses it: no one waits.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)

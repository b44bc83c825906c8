"""The read threads hand each read's result, or its exception, back to the request that waits."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from api.graphql.read_threads import ReadThreads

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def test_a_read_runs_on_a_read_thread_in_the_callers_context() -> None:
    threads = ReadThreads(2, "test-read")

    def seen() -> tuple[str, str]:
        return threading.current_thread().name, REQUEST_ID.get()

    async def ask() -> tuple[str, str]:
        REQUEST_ID.set("r-1")
        return await threads.run(seen)

    try:
        name, request_id = asyncio.run(ask())
    finally:
        threads.close()
    assert name.startswith("test-read_") and request_id == "r-1"


def test_a_reads_exception_reaches_the_request_that_waits() -> None:
    threads = ReadThreads(1, "test-read")

    def fails() -> None:
        raise LookupError("no such row")

    try:
        with pytest.raises(LookupError, match="no such row"):
            asyncio.run(threads.run(fails))
        assert asyncio.run(threads.run(lambda: 42)) == 42  # and the thread goes on reading
    finally:
        threads.close()

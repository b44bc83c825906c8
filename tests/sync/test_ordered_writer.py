"""The batch writer: one write at a time, in order, in its own thread, its outcome taken by the caller."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from sync.pipeline.writer import OrderedWriter

_run = contextvars.ContextVar[str]("_run", default="none")


def test_writes_run_one_at_a_time_in_order_off_the_callers_thread() -> None:
    done: list[int] = []
    threads: set[int] = set()

    def write(n: int) -> int:
        threads.add(threading.get_ident())
        time.sleep(0.01)
        done.append(n)
        return n * 10

    taken = []
    with OrderedWriter[int, int]() as writer:
        for n in range(5):
            outcome = writer.take()
            if outcome is not None:
                taken.append(outcome)
            writer.submit(n, lambda n=n: write(n))  # type: ignore[misc]
            assert writer.in_flight == n
        taken.append(writer.take())  # type: ignore[arg-type]
    assert done == [0, 1, 2, 3, 4]
    assert taken == [(n, n * 10) for n in range(5)]
    assert threading.get_ident() not in threads
    assert writer.take() is None


def test_a_write_is_refused_while_the_one_before_is_untaken() -> None:
    with OrderedWriter[int, None]() as writer:
        writer.submit(1, lambda: None)
        with pytest.raises(RuntimeError, match="not been taken"):
            writer.submit(2, lambda: None)
        writer.take()


def test_a_writes_error_is_raised_where_it_is_taken_and_only_once() -> None:
    def fail() -> None:
        raise LookupError("lease lost")

    with OrderedWriter[int, None]() as writer:
        writer.submit(1, fail)
        with pytest.raises(LookupError, match="lease lost"):
            writer.take()
        assert writer.in_flight is None
        assert writer.take() is None
        writer.submit(2, lambda: None)
        assert writer.take() == (2, None)


def test_the_callers_context_reaches_the_write() -> None:
    """The run's bound log fields (structlog's contextvars) are on lines logged while writing."""
    token = _run.set("run-7")
    try:
        with OrderedWriter[int, str]() as writer:
            writer.submit(1, _run.get)
            assert writer.take() == (1, "run-7")
    finally:
        _run.reset(token)


def test_leaving_the_block_waits_for_the_write_under_way() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        finished.set()

    with OrderedWriter[int, None]() as writer:
        writer.submit(1, slow)
    assert finished.is_set()
